import Fastify from 'fastify'
import t from 'tap'

import circuitBreaker, { InvalidOptionError } from '../../plugins/circuit-breaker/index.ts'

const invalid: Array<[string, Record<string, unknown>, string]> = [
  ['threshold', { threshold: 0 }, 'must be an integer of at least 1, got 0'],
  ['threshold', { threshold: 2.5 }, 'must be an integer of at least 1, got 2.5'],
  ['threshold', { threshold: '3' }, 'must be an integer of at least 1, got "3"'],
  ['halfOpenAfter', { halfOpenAfter: -1 }, '0 or more, or { initial, max, factor }, got -1'],
  ['halfOpenAfter', { halfOpenAfter: Infinity }, 'got Infinity'],
  ['halfOpenAfter', { halfOpenAfter: [] }, 'got an array'],
  ['name', { name: '' }, 'got ""'],
  ['name', { name: 'has space' }, 'got "has space"'],
  ['isFailure', { isFailure: true }, 'must be a function, got true'],
  ['policy.kind', { policy: { kind: 'random' } }, 'or "count", got "random"'],
  ['policy.threshold', { policy: { kind: 'consecutive', threshold: 0 } }, 'got 0'],
  ['policy.threshold', { policy: { kind: 'count', threshold: 1, size: 10 } }, 'got 1'],
  ['policy.size', { policy: { kind: 'count', threshold: 0.5, size: 0 } }, 'got 0'],
  ['policy.minimumNumberOfCalls',
    { policy: { kind: 'count', threshold: 0.5, size: 5, minimumNumberOfCalls: 6 } },
    'an integer from 1 to 5, got 6'],
  ['policy.duration', { policy: { kind: 'sampling', threshold: 0.5, duration: 10 } }, 'got 10'],
  ['policy.minimumRps',
    { policy: { kind: 'sampling', threshold: 0.5, duration: 5000, minimumRps: 0 } }, 'got 0'],
  ['policy', { policy: 'count' }, 'must be an object, got "count"'],
  ['threshold', { threshold: 2, policy: { kind: 'consecutive', threshold: 2 } },
    'must be left out when a policy is given, got 2'],
  ['halfOpenAfter.initial', { halfOpenAfter: { initial: 0, max: 10 } }, 'got 0'],
  ['halfOpenAfter.max', { halfOpenAfter: { initial: 100, max: 10 } }, 'got 10'],
  ['halfOpenAfter.factor', { halfOpenAfter: { initial: 1, max: 10, factor: 0.5 } }, 'got 0.5'],
  ['halfOpenSampling', { halfOpenSampling: 3 }, 'got 3'],
  ['halfOpenSampling.calls', { halfOpenSampling: { calls: 0, threshold: 0 } }, 'got 0'],
  ['halfOpenSampling.threshold', { halfOpenSampling: { calls: 2, threshold: 1 } }, 'got 1'],
  ['timeout', { timeout: 0 }, 'must be a number of milliseconds above 0, got 0'],
  ['breakers', { breakers: [] }, 'must be an object of options by name, got an array'],
  ['isFailure', { isFailure: {} }, 'must be a function, got an object'],
  ['threshold', { threshold: () => 3 }, 'got a function'],
]

/** The value at a dotted option path, as the error should report it. */
function valueAt (options: Record<string, unknown>, path: string): unknown {
  return path.split('.').reduce<unknown>((value, key) => (value as Record<string, unknown>)[key],
    options)
}

for (const [option, options, detail] of invalid) {
  t.test(`registration fails on ${option} ${JSON.stringify(options)}`, async (t) => {
    const app = Fastify()
    t.teardown(() => app.close())

    app.register(circuitBreaker, options)

    const error = await app.ready().then(() => undefined, (e: unknown) => e)
    t.ok(error instanceof InvalidOptionError)
    t.match(error, {
      code: 'FST_BREAKER_INVALID_OPTION',
      option,
      value: valueAt(options, option),
    })
    const says = `circuit breaker option "${option}" `
    t.ok(error instanceof Error && error.message.startsWith(says) &&
      error.message.endsWith(detail), `says what is wrong: ${String(error)}`)
  })
}

t.test('defaults: threshold 3, halfOpenAfter 10 s, named "default"', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(circuitBreaker)

  const fail = () => { throw new Error('down') }
  for (let i = 0; i < 2; i++) await t.rejects(app.circuitBreaker.execute(fail))
  t.equal(app.circuitBreaker.snapshot().state, 'closed')
  await t.rejects(app.circuitBreaker.execute(fail))

  const error = await app.circuitBreaker.execute(() => 1).catch((e: unknown) => e)
  t.match(error, { breaker: 'default', headers: { 'retry-after': '10' } })
})

t.test('an explicit consecutive policy works as the threshold shorthand does', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(circuitBreaker, { policy: { kind: 'consecutive', threshold: 1 } })

  await t.rejects(app.circuitBreaker.execute(() => { throw new Error('down') }))
  t.equal(app.circuitBreaker.snapshot().state, 'open')
  t.same(app.circuitBreaker.settings.policy, { kind: 'consecutive', threshold: 1 })
})

t.test('a halfOpenAfter of 0 admits a trial on the very next call', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(circuitBreaker, { threshold: 1, halfOpenAfter: 0 })

  await t.rejects(app.circuitBreaker.execute(() => { throw new Error('down') }))
  t.equal(await app.circuitBreaker.execute(() => 'trial'), 'trial')
})

t.test('options that are not an object are refused', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())

  app.register(circuitBreaker, 'fast' as never)

  await t.rejects(async () => { await app.ready() }, {
    code: 'FST_BREAKER_INVALID_OPTION',
    option: 'options',
  })
})
