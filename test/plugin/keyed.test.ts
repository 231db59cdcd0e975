import t from 'tap'

import {
  InvalidKeyError,
  InvalidOptionError,
  type CircuitBreakerPluginOptions,
} from '../../plugins/circuit-breaker/index.ts'
import { pluginApp } from '../helpers/apps.ts'
import { fakeClock } from '../helpers/clock.ts'
import { LEVELS, transitions } from '../helpers/logs.ts'

const fail = (): never => { throw new Error('dependency down') }

t.test('a per-key breaker is named <template>:<key> and made once per key', async (t) => {
  const { app } = await pluginApp(t, {
    keyedBreakers: { upstream: { threshold: 1, maxKeys: 100 } },
  })
  const upstream = app.circuitBreakers.keyed('upstream')

  const breaker = upstream.get('a.example:443')

  t.equal(breaker.name, 'upstream:a.example:443')
  t.equal(upstream.get('a.example:443'), breaker, 'the same key gives the same breaker')
  t.equal(upstream.size, 1)
  t.equal(upstream.name, 'upstream')
  t.same(upstream.limits, { maxKeys: 100, idleAfter: 600_000 }, 'idleAfter defaults to 10 min')
})

t.test('per-key breakers follow the template and keep apart', async (t) => {
  fakeClock(t)
  const { app } = await pluginApp(t, {
    keyedBreakers: { upstream: { threshold: 1, halfOpenAfter: 20_000, maxKeys: 100 } },
  })
  const upstream = app.circuitBreakers.keyed('upstream')
  const a = upstream.get('a.example:443')
  const b = upstream.get('b.example:443')

  await t.rejects(a.execute(fail))

  t.match(a.snapshot(), { name: 'upstream:a.example:443', state: 'open', consecutiveFailures: 1 })
  await t.rejects(a.execute(() => 'never called'), {
    code: 'FST_BREAKER_CIRCUIT_OPEN',
    breaker: 'upstream:a.example:443',
    headers: { 'retry-after': '20' },
  })
  t.same(b.snapshot(), {
    name: 'upstream:b.example:443',
    state: 'closed',
    consecutiveFailures: 0,
    openedAt: null,
    nextTrialAt: null,
  })
  t.equal(await b.execute(() => 'ok'), 'ok')
})

t.test('20 000 keys keep at most maxKeys breakers, the latest ones', async (t) => {
  const { app } = await pluginApp(t, {
    keyedBreakers: { upstream: { threshold: 1, maxKeys: 100 } },
  })
  const upstream = app.circuitBreakers.keyed('upstream')

  for (let i = 0; i < 20_000; i++) upstream.get(`host-${i}`)

  t.equal(upstream.size, 100)
  const kept = [...upstream.breakers()].map((breaker) => breaker.name)
  t.same(kept, Array.from({ length: 100 }, (_, i) => `upstream:host-${19_900 + i}`))
})

t.test('a full set evicts the least recently used key', async (t) => {
  const { app } = await pluginApp(t, {
    keyedBreakers: { upstream: { threshold: 1, maxKeys: 100 } },
  })
  const upstream = app.circuitBreakers.keyed('upstream')
  const oldest = upstream.get('host-0')
  const second = upstream.get('host-1')
  for (let i = 2; i < 100; i++) upstream.get(`host-${i}`)

  t.equal(upstream.get('host-0'), oldest, 'touching the oldest key makes it recent')
  upstream.get('host-100')

  const kept = [...upstream.breakers()]
  t.equal(kept.length, 100)
  t.ok(kept.includes(oldest), 'the touched key survived')
  t.notOk(kept.includes(second), 'the least recently used one made room')
  t.not(upstream.get('host-1'), second, 'an evicted key comes back as a new breaker')
})

t.test('breakers idle for idleAfter are dropped when a key is next asked for', async (t) => {
  const clock = fakeClock(t)
  const { app } = await pluginApp(t, {
    keyedBreakers: { upstream: { threshold: 1, maxKeys: 100, idleAfter: 60_000 } },
  })
  const upstream = app.circuitBreakers.keyed('upstream')
  const a = upstream.get('a')
  const b = upstream.get('b')

  clock.tick(30_000)
  t.equal(upstream.get('b'), b, 'using a key keeps it')
  clock.tick(29_999)
  upstream.get('c')
  t.equal(upstream.size, 3, 'one millisecond short of idleAfter, nothing is dropped')

  clock.tick(1)
  upstream.get('d')

  t.same([...upstream.breakers()].map((breaker) => breaker.name),
    ['upstream:b', 'upstream:c', 'upstream:d'])
  t.not(upstream.get('a'), a, 'the idle key comes back as a new breaker')
})

// Regression: an idle key was dropped only when some other new key was made, so one asked
// for again before that kept its old state, depending on unrelated traffic.
t.test('an idle key asked for again starts afresh, closed', async (t) => {
  const clock = fakeClock(t)
  const { app } = await pluginApp(t, {
    keyedBreakers: { upstream: { threshold: 1, halfOpenAfter: 3_600_000, idleAfter: 60_000 } },
  })
  const upstream = app.circuitBreakers.keyed('upstream')
  const stale = upstream.get('a')
  await t.rejects(stale.execute(fail))

  clock.tick(60_000)
  const fresh = upstream.get('a')

  t.not(fresh, stale)
  t.match(fresh.snapshot(), { name: 'upstream:a', state: 'closed', consecutiveFailures: 0 })
  t.equal(upstream.size, 1)
})

const invalidKeys: Array<[string, unknown, string]> = [
  ['an empty string', '', 'got ""'],
  ['a 257-character string', 'k'.repeat(257), `got "${'k'.repeat(257)}"`],
  ['a 300-character string', 'k'.repeat(300), `got "${'k'.repeat(300)}"`],
  ['a number', 443, 'got 443'],
  ['undefined', undefined, 'got undefined'],
]

for (const [what, key, detail] of invalidKeys) {
  t.test(`a key that is ${what} is refused with InvalidKeyError`, async (t) => {
    const { app } = await pluginApp(t, { keyedBreakers: { upstream: {} } })
    const upstream = app.circuitBreakers.keyed('upstream')

    const error = (() => {
      try {
        return upstream.get(key as string)
      } catch (error) {
        return error
      }
    })()

    t.ok(error instanceof InvalidKeyError)
    t.match(error, { name: 'InvalidKeyError', code: 'FST_BREAKER_INVALID_KEY', key })
    t.equal((error as Error).message,
      `a breaker key must be a string of 1 to 256 characters, ${detail}`)
    t.equal(upstream.size, 0, 'no breaker was made')
  })
}

t.test('a key of 256 characters is accepted', async (t) => {
  const { app } = await pluginApp(t, { keyedBreakers: { upstream: {} } })
  const key = 'k'.repeat(256)

  t.equal(app.circuitBreakers.keyed('upstream').get(key).name, `upstream:${key}`)
})

const invalidLimits: Array<[string, unknown, string]> = [
  ['maxKeys', 0, 'an integer of at least 1, got 0'],
  ['maxKeys', 2.5, 'an integer of at least 1, got 2.5'],
  ['maxKeys', '100', 'an integer of at least 1, got "100"'],
  ['maxKeys', Infinity, 'an integer of at least 1, got Infinity'],
  ['idleAfter', 0, 'a number of milliseconds above 0, got 0'],
  ['idleAfter', -1, 'a number of milliseconds above 0, got -1'],
  ['idleAfter', Number.NaN, 'a number of milliseconds above 0, got NaN'],
  ['idleAfter', Infinity, 'a number of milliseconds above 0, got Infinity'],
  ['idleAfter', '60000', 'a number of milliseconds above 0, got "60000"'],
]

for (const [limit, value, detail] of invalidLimits) {
  t.test(`registration fails on ${limit} ${String(value)}, naming where it was given`,
    async (t) => {
      const options = { keyedBreakers: { upstream: { [limit]: value } } }

      const error = await pluginApp(t, options as CircuitBreakerPluginOptions)
        .then(() => undefined, (e: unknown) => e)

      const option = `keyedBreakers.upstream.${limit}`
      t.ok(error instanceof InvalidOptionError)
      t.match(error, { code: 'FST_BREAKER_INVALID_OPTION', option })
      t.same((error as InvalidOptionError).value, value)
      t.equal((error as Error).message, `circuit breaker option "${option}" must be ${detail}`)
    })
}

t.test('a bad breaker option in a template names its path too', async (t) => {
  const error = await pluginApp(t, { keyedBreakers: { upstream: { threshold: 0 } } })
    .then(() => undefined, (e: unknown) => e)

  t.match(error, { code: 'FST_BREAKER_INVALID_OPTION', option: 'keyedBreakers.upstream.threshold' })
})

t.test('keyedBreakers must be an object of templates', async (t) => {
  const error = await pluginApp(t, { keyedBreakers: ['upstream'] } as never)
    .then(() => undefined, (e: unknown) => e)

  t.match(error, {
    option: 'keyedBreakers',
    message: 'circuit breaker option "keyedBreakers" must be an object of options by name, ' +
      'got an array',
  })
})

t.test('a per-key breaker logs its transitions under its own name', async (t) => {
  const { app, logs } = await pluginApp(t, { keyedBreakers: { upstream: { threshold: 1 } } })

  await t.rejects(app.circuitBreakers.keyed('upstream').get('a.example:443').execute(fail))

  t.match(transitions(logs), [{
    level: LEVELS.warn,
    breaker: 'upstream:a.example:443',
    from: 'closed',
    to: 'open',
    reason: 'failure threshold reached',
    err: { message: 'dependency down' },
  }])
})

t.test('an evicted breaker stops logging, and after app.close() none does', async (t) => {
  const { app, logs } = await pluginApp(t, {
    keyedBreakers: { upstream: { threshold: 1, maxKeys: 2 } },
  })
  const upstream = app.circuitBreakers.keyed('upstream')
  const evicted = upstream.get('a')
  const alive = upstream.get('b')
  const remaining = upstream.get('c')

  await t.rejects(evicted.execute(fail))
  t.same(transitions(logs), [], 'the evicted breaker still works but logs nothing')
  await t.rejects(alive.execute(fail))
  t.match(transitions(logs), [{ breaker: 'upstream:b', to: 'open' }], 'a kept one logs')

  await app.close()
  await t.rejects(remaining.execute(fail))
  t.equal(remaining.snapshot().state, 'open')
  t.equal(transitions(logs).length, 1, 'nothing more was logged after close')
  t.equal(upstream.size, 0, 'close dropped every per-key breaker')
})
