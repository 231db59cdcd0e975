import { once } from 'node:events'

import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'

import { serviceApp } from '../helpers/apps.ts'
import { fakeClock } from '../helpers/clock.ts'
import { fakeUpstream, type FakeUpstream, type UpstreamBehaviour } from '../helpers/upstream.ts'

// Short where a test waits for the cut; generous elsewhere, so a loaded machine's slow
// answer is not mistaken for a timeout.
const TIMEOUT_MS = 100
const PATIENT_TIMEOUT_MS = 5000

/** The service in upstream mode, calling `<upstream>/prices?currency=eur`. */
async function upstreamService (
  t: Test,
  upstream: FakeUpstream,
  env: Record<string, string> = {}
): Promise<FastifyInstance> {
  const { app } = await serviceApp(t, {
    env: {
      UPSTREAM_URL: `${upstream.origin}/prices?currency=eur`,
      UPSTREAM_TIMEOUT_MS: String(PATIENT_TIMEOUT_MS),
      ...env,
    },
  })
  return app
}

async function failureCount (app: FastifyInstance): Promise<number> {
  return (await app.inject('/circuitbreaker')).json().failure_count
}

t.test('a 200 is relayed with its content type and body', async (t) => {
  const upstream = await fakeUpstream(t)
  const app = await upstreamService(t, upstream)
  upstream.behave({
    status: 200,
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: '{"price":42,"currency":"eur"}',
  })

  const response = await app.inject('/unstable')

  t.equal(response.statusCode, 200)
  t.equal(response.headers['content-type'], 'application/json; charset=utf-8')
  t.equal(response.body, '{"price":42,"currency":"eur"}')
  t.same(upstream.requests, ['GET /prices?currency=eur'], 'the configured URL was called once')
})

t.test('a 404 is the upstream\'s answer, relayed, and not a failure', async (t) => {
  const upstream = await fakeUpstream(t)
  const app = await upstreamService(t, upstream)
  upstream.behave({ status: 404, headers: { 'content-type': 'text/plain' }, body: 'No price' })

  const response = await app.inject('/unstable')

  t.equal(response.statusCode, 404)
  t.equal(response.headers['content-type'], 'text/plain')
  t.equal(response.body, 'No price')
  t.equal(await failureCount(app), 0)
})

t.test('a body without a content type is relayed as bytes', async (t) => {
  const upstream = await fakeUpstream(t)
  const app = await upstreamService(t, upstream)
  upstream.behave({ status: 200, body: 'raw' })

  const response = await app.inject('/unstable')

  t.equal(response.statusCode, 200)
  t.equal(response.headers['content-type'], 'application/octet-stream')
  t.equal(response.body, 'raw')
})

const badGateways: Array<[string, UpstreamBehaviour, string]> = [
  ['answers 500', { status: 500, body: 'Internal detail' }, 'upstream answered 500'],
  ['answers 503', { status: 503 }, 'upstream answered 503'],
  ['resets the connection', 'reset', 'connection reset'],
  ['closes the connection', 'close', 'connection closed before an answer'],
  ['does not speak HTTP', 'garbage', 'no valid answer'],
]

for (const [what, behaviour, reason] of badGateways) {
  t.test(`an upstream that ${what} is a bad gateway, and a failure`, async (t) => {
    const upstream = await fakeUpstream(t)
    const app = await upstreamService(t, upstream)
    upstream.behave(behaviour)

    const response = await app.inject('/unstable')

    t.equal(response.statusCode, 502)
    t.match(response.headers['content-type'], /^application\/json/)
    t.same(response.json(), { error: `Bad gateway: ${reason}` })
    t.equal(await failureCount(app), 1)
  })
}

t.test('a refused connection is a bad gateway, and a failure', async (t) => {
  const upstream = await fakeUpstream(t)
  const app = await upstreamService(t, upstream)
  await upstream.stop()

  const response = await app.inject('/unstable')

  t.equal(response.statusCode, 502)
  t.same(response.json(), { error: 'Bad gateway: connection refused' })
  t.equal(await failureCount(app), 1)
})

const timeouts: Array<[string, UpstreamBehaviour]> = [
  ['never answers', 'hang'],
  ['stops sending its body', 'stall'],
]

for (const [what, behaviour] of timeouts) {
  t.test(`an upstream that ${what} is cut at the timeout, and a failure`, async (t) => {
    const upstream = await fakeUpstream(t)
    const app = await upstreamService(t, upstream, { UPSTREAM_TIMEOUT_MS: String(TIMEOUT_MS) })
    upstream.behave(behaviour)

    const startedAt = performance.now()
    const response = await app.inject('/unstable')
    const tookMs = performance.now() - startedAt

    t.equal(response.statusCode, 504)
    t.same(response.json(), { error: `Upstream timed out after ${TIMEOUT_MS} ms` })
    t.ok(tookMs >= TIMEOUT_MS - 5 && tookMs < 2000, `cut after ${Math.round(tookMs)} ms`)
    t.equal(await failureCount(app), 1)
  })
}

t.test('the reply names the failure; the log keeps the detail', async (t) => {
  const upstream = await fakeUpstream(t)
  const { app, logs } = await serviceApp(t, { env: { UPSTREAM_URL: upstream.origin } })
  await upstream.stop()

  await app.inject('/unstable')

  t.match(logs.find((line) => line.msg === 'request failed'), {
    err: { type: 'UpstreamFailure', message: /connection refused.*ECONNREFUSED 127\.0\.0\.1/ },
  })
})

t.test('three failures open the circuit: 503 with Retry-After, upstream left alone', async (t) => {
  fakeClock(t)
  const upstream = await fakeUpstream(t)
  const app = await upstreamService(t, upstream, { FAIL_MAX: '3', RESET_TIMEOUT: '10' })
  upstream.behave({ status: 500 })

  for (let call = 1; call <= 3; call++) {
    t.equal((await app.inject('/unstable')).statusCode, 502, `call ${call} reached the upstream`)
  }
  const rejected = await app.inject('/unstable')

  t.equal(rejected.statusCode, 503)
  t.equal(rejected.headers['retry-after'], '10')
  t.same(rejected.json(), { error: 'Circuit breaker is open!' })
  t.equal(upstream.requests.length, 3, 'the rejected call never reached the upstream')
})

t.test('after the open period, one good answer closes the circuit again', async (t) => {
  const clock = fakeClock(t)
  const upstream = await fakeUpstream(t)
  const app = await upstreamService(t, upstream, { FAIL_MAX: '1', RESET_TIMEOUT: '10' })
  upstream.behave('hang')
  t.equal((await app.inject('/unstable')).statusCode, 504, 'the timeout opened the circuit')

  clock.tick(10_000)
  upstream.behave({ status: 200, body: 'back' })
  const trial = await app.inject('/unstable')

  t.equal(trial.statusCode, 200)
  t.equal(trial.body, 'back')
  t.same((await app.inject('/circuitbreaker')).json(), {
    name: 'default', state: 'closed', failure_count: 0, opened_at: null, next_trial_at: null,
  })
})

t.test('calls reuse kept-alive connections, which close with the app', async (t) => {
  const upstream = await fakeUpstream(t)
  const app = await upstreamService(t, upstream)

  for (let call = 1; call <= 5; call++) await app.inject('/unstable')
  const opened = upstream.connections.length
  t.equal(upstream.requests.length, 5)
  t.ok(opened < 5, `5 calls went over ${opened} connections`)

  const allClosed = Promise.all(upstream.connections.map((socket) => once(socket, 'close')))
  await app.close()
  await allClosed
  t.pass('closing the app closed every connection')
})

t.test('over real HTTP, answers are relayed and failures become 502', async (t) => {
  const upstream = await fakeUpstream(t)
  const app = await upstreamService(t, upstream)
  const address = await app.listen({ port: 0, host: '127.0.0.1' })

  const relayed = await fetch(`${address}/unstable`)
  t.equal(relayed.status, 200)
  t.equal(relayed.headers.get('content-type'), 'application/json')
  t.equal(await relayed.text(), '{"price":42}')

  upstream.behave({ status: 500 })
  const failed = await fetch(`${address}/unstable`)
  t.equal(failed.status, 502)
  t.same(await failed.json(), { error: 'Bad gateway: upstream answered 500' })
})
