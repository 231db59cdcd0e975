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
  ['isFailure', { isFailure: {} }, 'must be a function, got an object'],
  ['threshold', { threshold: () => 3 }, 'got a function'],
]

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
      value: options[option],
    })
    t.ok(error instanceof Error && error.message.startsWith(`circuit breaker option "${option}" `) &&
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
