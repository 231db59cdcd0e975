import t from 'tap'

import {
  InvalidOptionError,
  UnknownBreakerError,
  type CircuitBreaker,
  type CircuitBreakerPluginOptions,
} from '../../plugins/circuit-breaker/index.ts'
import { pluginApp } from '../helpers/apps.ts'
import { fakeClock } from '../helpers/clock.ts'
import { LEVELS, transitions } from '../helpers/logs.ts'

const fail = (): never => { throw new Error('dependency down') }

t.test('each named breaker has its own options and its own state', async (t) => {
  fakeClock(t)
  const { app } = await pluginApp(t, {
    breakers: {
      payments: { threshold: 1, halfOpenAfter: 5_000 },
      search: { threshold: 2, halfOpenAfter: 60_000 },
    },
  })
  const payments = app.circuitBreakers.get('payments')
  const search = app.circuitBreakers.get('search')
  const now = Date.now()

  await t.rejects(payments.execute(fail))
  await t.rejects(search.execute(fail))

  t.same(payments.snapshot(), {
    name: 'payments',
    state: 'open',
    consecutiveFailures: 1,
    openedAt: now,
    nextTrialAt: now + 5_000,
  })
  t.same(search.snapshot(), {
    name: 'search',
    state: 'closed',
    consecutiveFailures: 1,
    openedAt: null,
    nextTrialAt: null,
  })
  t.same(app.circuitBreaker.snapshot(), {
    name: 'default',
    state: 'closed',
    consecutiveFailures: 0,
    openedAt: null,
    nextTrialAt: null,
  })

  await t.rejects(search.execute(fail))
  await t.rejects(search.execute(() => 'never called'), {
    code: 'FST_BREAKER_CIRCUIT_OPEN',
    breaker: 'search',
    headers: { 'retry-after': '60' },
  })
})

t.test('get("default") is app.circuitBreaker, and a renamed default is found by its name',
  async (t) => {
    const plain = await pluginApp(t)
    t.equal(plain.app.circuitBreakers.get('default'), plain.app.circuitBreaker)

    const renamed = await pluginApp(t, { name: 'main' })
    t.equal(renamed.app.circuitBreakers.get('main'), renamed.app.circuitBreaker)
    t.throws(() => renamed.app.circuitBreakers.get('default'), {
      code: 'FST_BREAKER_UNKNOWN_BREAKER',
      message: 'no circuit breaker is named "default"; known: main',
    })
  })

t.test('an unknown name throws UnknownBreakerError listing the known names', async (t) => {
  const { app } = await pluginApp(t, {
    breakers: { payments: {}, search: {} },
    keyedBreakers: { upstream: {} },
  })

  const named = (() => {
    try {
      return app.circuitBreakers.get('billing')
    } catch (error) {
      return error
    }
  })()
  t.ok(named instanceof UnknownBreakerError)
  t.match(named, {
    name: 'UnknownBreakerError',
    code: 'FST_BREAKER_UNKNOWN_BREAKER',
    breaker: 'billing',
    message: 'no circuit breaker is named "billing"; known: default, payments, search',
  })

  t.throws(() => app.circuitBreakers.keyed('payments'), {
    code: 'FST_BREAKER_UNKNOWN_BREAKER',
    message: 'no circuit breaker is named "payments"; known: upstream',
  }, 'keyed() looks among the per-key templates only')
  t.throws(() => app.circuitBreakers.get('upstream'), { code: 'FST_BREAKER_UNKNOWN_BREAKER' },
    'get() looks among the named breakers only')
})

t.test('a breaker named like the default one is refused', async (t) => {
  const cases: Array<[CircuitBreakerPluginOptions, string]> = [
    [{ breakers: { default: { threshold: 1 } } }, 'default'],
    [{ name: 'main', breakers: { main: {} } }, 'main'],
  ]

  for (const [options, name] of cases) {
    const error = await pluginApp(t, options).then(() => undefined, (e: unknown) => e)
    t.ok(error instanceof InvalidOptionError)
    t.match(error, {
      code: 'FST_BREAKER_INVALID_OPTION',
      option: `breakers.${name}`,
      value: name,
      message: `circuit breaker option "breakers.${name}" must be a new name, got "${name}"`,
    })
  }
})

const invalid: Array<[string, unknown, string, unknown]> = [
  ['breakers', [], 'must be an object of options by name, got an array', []],
  ['breakers', 'payments', 'must be an object of options by name, got "payments"', 'payments'],
  ['breakers.payments.threshold', { payments: { threshold: 0 } },
    'must be an integer of at least 1, got 0', 0],
  ['breakers.payments.halfOpenAfter', { payments: { halfOpenAfter: -1 } },
    'must be a number of milliseconds, 0 or more, or { initial, max, factor }, got -1', -1],
  ['breakers.payments.policy.threshold', { payments: { policy: { kind: 'count', threshold: 2, size: 10 } } },
    'must be a ratio between 0 and 1 (both excluded), got 2', 2],
  ['breakers.payments.timeout', { payments: { timeout: 0 } },
    'must be a number of milliseconds above 0, got 0', 0],
  ['breakers.payments.options', { payments: null }, 'must be an object, got null', null],
  ['breakers.has space.name', { 'has space': {} },
    'must be a name of letters, digits, ".", ":", "_" or "-", got "has space"', 'has space'],
]

for (const [option, breakers, detail, value] of invalid) {
  t.test(`registration fails naming ${option} for breakers ${JSON.stringify(breakers)}`,
    async (t) => {
      const error = await pluginApp(t, { breakers } as CircuitBreakerPluginOptions)
        .then(() => undefined, (e: unknown) => e)

      t.ok(error instanceof InvalidOptionError)
      t.match(error, { code: 'FST_BREAKER_INVALID_OPTION', option, value })
      t.equal((error as Error).message, `circuit breaker option "${option}" ${detail}`)
    })
}

t.test('iterating lists every breaker alive, per-key ones included', async (t) => {
  const { app } = await pluginApp(t, {
    breakers: { payments: {}, search: {} },
    keyedBreakers: { upstream: {}, tenant: {} },
  })
  const a = app.circuitBreakers.keyed('upstream').get('a.example:443')
  const b = app.circuitBreakers.keyed('upstream').get('b.example:443')
  const acme = app.circuitBreakers.keyed('tenant').get('acme')

  const all = [...app.circuitBreakers]

  t.same(all.map((breaker) => breaker.name), [
    'default',
    'payments',
    'search',
    'upstream:a.example:443',
    'upstream:b.example:443',
    'tenant:acme',
  ])
  t.equal(all[0], app.circuitBreaker)
  t.same(all.slice(3), [a, b, acme])
})

t.test('transitions of a named breaker are logged under its name', async (t) => {
  fakeClock(t)
  const { app, logs } = await pluginApp(t, { breakers: { payments: { threshold: 1 } } })

  await t.rejects(app.circuitBreakers.get('payments').execute(fail))

  t.match(transitions(logs), [{
    level: LEVELS.warn,
    breaker: 'payments',
    from: 'closed',
    to: 'open',
    reason: 'failure threshold reached',
    msg: 'circuit opened',
    err: { type: 'Error', message: 'dependency down' },
  }])
  t.equal(transitions(logs).length, 1, 'the default breaker logged nothing')
})

t.test('after app.close() no named breaker logs', async (t) => {
  const { app, logs } = await pluginApp(t, { breakers: { payments: { threshold: 1 } } })
  const payments = app.circuitBreakers.get('payments')

  await app.close()
  await t.rejects(payments.execute(fail))

  t.same(transitions(logs), [])
})

t.test('onCreate hears of every breaker, alive now or made later', async (t) => {
  const { app } = await pluginApp(t, {
    breakers: { payments: {} },
    keyedBreakers: { upstream: { maxKeys: 1 } },
  })
  const early = app.circuitBreakers.keyed('upstream').get('a')
  const heard: string[] = []
  const listening = new Set<string>()

  app.circuitBreakers.onCreate((breaker: CircuitBreaker) => {
    heard.push(breaker.name)
    listening.add(breaker.name)
    return { dispose: () => listening.delete(breaker.name) }
  })
  app.circuitBreakers.onCreate(() => undefined)
  const later = app.circuitBreakers.keyed('upstream').get('b')

  t.same(heard, ['default', 'payments', 'upstream:a', 'upstream:b'])
  t.not(early, later)
  t.same([...listening], ['default', 'payments', 'upstream:b'],
    'what it returned for the evicted breaker was disposed')

  await app.close()
  t.same([...listening], [], 'and every other on close')
})

t.test('closing the registry twice is harmless', async (t) => {
  const { app, logs } = await pluginApp(t, { threshold: 1 })

  app.circuitBreakers.close()
  await app.close()
  await t.rejects(app.circuitBreaker.execute(fail))

  t.same(transitions(logs), [])
})
