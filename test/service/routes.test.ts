import t from 'tap'

import { scriptedRandom, serviceApp } from '../helpers/apps.ts'
import { fakeClock } from '../helpers/clock.ts'
import { LEVELS } from '../helpers/logs.ts'

const FAILS = 0
const SUCCEEDS = 0.99

t.test('GET / welcomes in plain text', async (t) => {
  const { app } = await serviceApp(t)

  const response = await app.inject('/')

  t.equal(response.statusCode, 200)
  t.equal(response.headers['content-type'], 'text/plain; charset=utf-8')
  t.equal(response.body, 'Welcome to the microservice!')
})

t.test('GET /unstable answers Success! when the dependency works', async (t) => {
  const { app } = await serviceApp(t, { random: scriptedRandom(SUCCEEDS) })

  const response = await app.inject('/unstable')

  t.equal(response.statusCode, 200)
  t.equal(response.headers['content-type'], 'text/plain; charset=utf-8')
  t.equal(response.body, 'Success!')
})

t.test('GET /unstable: 500 until the breaker trips, then 503 with Retry-After', async (t) => {
  fakeClock(t)
  const { app } = await serviceApp(t, {
    env: { FAIL_MAX: '3', RESET_TIMEOUT: '10' },
    random: scriptedRandom(FAILS),
  })

  for (let call = 1; call <= 3; call++) {
    const failed = await app.inject('/unstable')
    t.equal(failed.statusCode, 500, `call ${call} reports the dependency's failure`)
    t.same(failed.json(), { error: 'Simulated failure' })
  }

  const rejected = await app.inject('/unstable')
  t.equal(rejected.statusCode, 503)
  t.equal(rejected.headers['retry-after'], '10')
  t.match(rejected.headers['content-type'], /^application\/json/)
  t.same(rejected.json(), { error: 'Circuit breaker is open!' })
})

t.test('the failure rate is honoured: 0 never fails, 1 always fails', async (t) => {
  const never = await serviceApp(t, { env: { FAILURE_RATE: '0' }, random: () => 0 })
  const always = await serviceApp(t, { env: { FAILURE_RATE: '1' }, random: () => 0.999999 })

  t.equal((await never.app.inject('/unstable')).statusCode, 200)
  t.equal((await always.app.inject('/unstable')).statusCode, 500)
})

t.test('the whole cycle as seen through GET /circuitbreaker', async (t) => {
  const clock = fakeClock(t)
  const random = scriptedRandom(FAILS, FAILS, FAILS, FAILS, SUCCEEDS)
  const { app } = await serviceApp(t, { env: { RESET_TIMEOUT: '1.5' }, random })
  const status = async () => (await app.inject('/circuitbreaker')).json()

  t.same(await status(), {
    name: 'default', state: 'closed', failure_count: 0, opened_at: null, next_trial_at: null,
  })

  for (let i = 0; i < 3; i++) await app.inject('/unstable')
  const openedAt = new Date(Date.now()).toISOString()
  t.same(await status(), {
    name: 'default',
    state: 'open',
    failure_count: 3,
    opened_at: openedAt,
    next_trial_at: new Date(Date.now() + 1500).toISOString(),
  })
  t.equal((await app.inject('/unstable')).headers['retry-after'], '2')

  clock.tick(1500)
  t.equal((await app.inject('/unstable')).statusCode, 500, 'the trial reached the dependency')
  t.match(await status(), { state: 'open', failure_count: 4 })

  clock.tick(1500)
  t.equal((await app.inject('/unstable')).statusCode, 200, 'the next trial succeeded')
  t.same(await status(), {
    name: 'default', state: 'closed', failure_count: 0, opened_at: null, next_trial_at: null,
  })
})

t.test('unknown routes answer 404 JSON', async (t) => {
  const { app } = await serviceApp(t)

  const response = await app.inject('/nowhere?x=1')

  t.equal(response.statusCode, 404)
  t.same(response.json(), { error: 'Route GET /nowhere?x=1 not found' })
})

t.test('an outage does not flood the log: rejections are brief info lines', async (t) => {
  fakeClock(t)
  const { app, logs } = await serviceApp(t, {
    env: { FAIL_MAX: '1' },
    random: scriptedRandom(FAILS),
  })

  await app.inject('/unstable')
  for (let i = 0; i < 5; i++) await app.inject('/unstable')

  const failures = logs.filter((line) => line.msg === 'request failed')
  t.equal(failures.length, 1, 'the real failure is logged once')
  t.match(failures[0], {
    level: LEVELS.error, err: { message: 'Simulated failure', stack: String },
  })

  const rejections = logs.filter((line) => line.msg === 'rejected: circuit open')
  t.equal(rejections.length, 5)
  t.ok(rejections.every((line) => line.level === LEVELS.info && !('err' in line)),
    'below error level, without a stack')
  t.match(rejections[0], { breaker: 'default', retryAfter: 10 })
})

t.test('an unexpected error answers a generic 500 without its message or stack', async (t) => {
  const { app, logs } = await serviceApp(t, {
    extend: (app) => app.get('/boom', async () => { throw new Error('secret detail') }),
  })

  const response = await app.inject('/boom')

  t.equal(response.statusCode, 500)
  t.same(response.json(), { error: 'Internal Server Error' })
  t.match(logs.find((line) => line.msg === 'request failed'), { err: { message: 'secret detail' } })
})

t.test('a client error keeps its status and message', async (t) => {
  const { app } = await serviceApp(t, {
    extend: (app) => app.get('/bad', async () => {
      throw app.httpErrors.badRequest('id is missing')
    }),
  })

  const response = await app.inject('/bad')

  t.equal(response.statusCode, 400)
  t.same(response.json(), { error: 'id is missing' })
})

t.test('a request Fastify refuses before routing still answers { error }', async (t) => {
  const { app } = await serviceApp(t)

  const badUrl = await app.inject('/%E0%A4%A')

  t.equal(badUrl.statusCode, 400)
  t.same(badUrl.json(), { error: "'/%E0%A4%A' is not a valid url component" })
})
