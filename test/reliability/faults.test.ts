import { request as httpRequest, type ClientRequest } from 'node:http'
import type { AddressInfo } from 'node:net'

import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'

import errorReplies from '../../plugins/error-replies.ts'
import { pluginApp } from '../helpers/apps.ts'
import { fakeClock } from '../helpers/clock.ts'

const TIMEOUT_MS = 50
const JSON_TYPE = 'application/json; charset=utf-8'
const TEXT_TYPE = 'text/plain; charset=utf-8'

// Every rejection no one handled, in this whole file: a fault must never leave one behind.
const unhandled: unknown[] = []
const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
process.on('unhandledRejection', onUnhandled)
t.teardown(() => { process.off('unhandledRejection', onUnhandled) })

/** Lets outcomes travel through cockatiel's promise chains and Node's rejection tracking. */
const settled = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** Lets the test settle a call's answer after the reply went out. */
type Later = (settle: () => void) => void

/** The dependency a route calls, given the signal the breaker aborts at its deadline. */
type Dependency = (signal: AbortSignal, later: Later) => unknown

interface Reply {
  status: number
  contentType: string | undefined
  body: string
}

interface Fault {
  does: string
  dependency: Dependency
  /** What a bare Fastify app answers, with its own error handler. */
  fastify: Reply
  /** What the service's error handler (plugins/error-replies.ts) answers. */
  service: Reply
}

const thrownString: unknown = 'dependency down'
const thrownNothing: unknown = undefined
const thrownNull: unknown = null

const internalError: Reply = {
  status: 500,
  contentType: JSON_TYPE,
  body: '{"error":"Internal Server Error"}',
}
const fastifyInternalError: Reply = {
  status: 500,
  contentType: JSON_TYPE,
  body: '{"statusCode":500,"error":"Internal Server Error","message":"dependency down"}',
}
const fastifyTimeout: Reply = {
  status: 504,
  contentType: JSON_TYPE,
  body: '{"statusCode":504,"code":"FST_BREAKER_CALL_TIMEOUT","error":"Gateway Timeout",' +
    `"message":"call through circuit breaker \\"default\\" timed out after ${TIMEOUT_MS} ms"}`,
}
// The service shows no detail of a 5xx that does not expose itself, a timeout included.
const serviceTimeout: Reply = { ...internalError, status: 504 }

const faults: Fault[] = [
  {
    does: 'throws synchronously',
    dependency: () => { throw new Error('dependency down') },
    fastify: fastifyInternalError,
    service: internalError,
  },
  {
    does: 'rejects',
    dependency: async () => { throw new Error('dependency down') },
    fastify: fastifyInternalError,
    service: internalError,
  },
  {
    // Fastify's own handler sends a thrown string as it is: the plugin does not touch the
    // error handler (README), so a bare app answers text. The service answers JSON.
    does: 'throws a string',
    dependency: () => { throw thrownString },
    fastify: { status: 500, contentType: TEXT_TYPE, body: 'dependency down' },
    service: internalError,
  },
  {
    does: 'throws undefined',
    dependency: () => { throw thrownNothing },
    fastify: { status: 500, contentType: undefined, body: '' },
    service: internalError,
  },
  {
    does: 'throws null',
    dependency: () => { throw thrownNull },
    fastify: { status: 500, contentType: JSON_TYPE, body: 'null' },
    service: internalError,
  },
  {
    does: 'answers after the timeout',
    dependency: (_signal, later) => new Promise((resolve) => later(() => resolve('too late'))),
    fastify: fastifyTimeout,
    service: serviceTimeout,
  },
  {
    does: 'never answers',
    dependency: () => new Promise(() => {}),
    fastify: fastifyTimeout,
    service: serviceTimeout,
  },
  {
    does: 'ignores its abort signal and fails late',
    dependency: (_signal, later) => new Promise((_resolve, reject) => {
      later(() => reject(new Error('gave up late')))
    }),
    fastify: fastifyTimeout,
    service: serviceTimeout,
  },
]

const routes = {
  '/execute': 'a route calling execute()',
  '/protected': 'a route protected by config',
} as const

type Route = keyof typeof routes

interface FaultyApp {
  app: FastifyInstance
  /** Every signal the `/execute` route's dependency got, in order. */
  signals: AbortSignal[]
  /** How many calls reached the dependency. */
  calls (): number
  /** Settles every answer held back for later. */
  settleLate (): void
}

/**
 * The plugin alone on a bare app (`threshold: 2`, `timeout: 50`), with both routes calling
 * `dependency`, and the service's error handler when `withServiceErrors`.
 */
async function faultyApp (
  t: Test,
  dependency: Dependency,
  withServiceErrors: boolean
): Promise<FaultyApp> {
  const { app } = await pluginApp(t, { threshold: 2, timeout: TIMEOUT_MS, halfOpenAfter: 1_000 })
  if (withServiceErrors) await app.register(errorReplies)

  const signals: AbortSignal[] = []
  const held: Array<() => void> = []
  const later: Later = (settle) => { held.push(settle) }
  let calls = 0
  const call = (signal: AbortSignal) => {
    calls++
    return dependency(signal, later)
  }

  app.get('/execute', () => app.circuitBreaker.execute(({ signal }) => {
    signals.push(signal)
    return call(signal)
  }))
  // Route protection cannot stop a handler (README, Limits): it gets no deadline signal.
  app.get('/protected', { config: { circuitBreaker: true } },
    () => call(new AbortController().signal))

  return {
    app,
    signals,
    calls: () => calls,
    settleLate: () => { for (const settle of held.splice(0)) settle() },
  }
}

/** Finds a `stack` key at any depth of a parsed JSON body. */
function hasStackKey (value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false
  return Object.entries(value).some(([key, inner]) => key === 'stack' || hasStackKey(inner))
}

/** The reply is the one expected, whole, and carries no stack trace in any form. */
function assertReply (t: Test, response: LightMyRequestResponse, expected: Reply): void {
  t.equal(response.statusCode, expected.status)
  t.equal(response.headers['content-type'], expected.contentType)
  t.equal(response.body, expected.body)
  t.notMatch(response.body, /\n\s+at |"stack"/, 'no stack trace in the body')
}

/** The reply is a JSON error object, `{ error: string, ... }`, without a stack anywhere. */
function assertJsonError (t: Test, response: LightMyRequestResponse): void {
  t.match(response.headers['content-type'], /^application\/json/)
  const body = JSON.parse(response.body) as unknown
  t.match(body, { error: String }, 'an object with an error message')
  t.notOk(hasStackKey(body), 'no stack key at any depth')
}

const openCircuit = {
  fastify: '{"statusCode":503,"code":"FST_BREAKER_CIRCUIT_OPEN","error":"Service Unavailable",' +
    '"message":"circuit breaker \\"default\\" is open"}',
  service: '{"error":"Circuit breaker is open!"}',
}

for (const fault of faults) {
  for (const [url, route] of Object.entries(routes) as Array<[Route, string]>) {
    for (const handler of ['fastify', 'service'] as const) {
      const handledBy = handler === 'fastify' ? 'Fastify’s error handler' : 'the service’s'
      t.test(`a dependency that ${fault.does}, through ${route}, with ${handledBy}: counted ` +
        'once, answered without a stack, nothing escapes', async (t) => {
        const faulty = await faultyApp(t, fault.dependency, handler === 'service')
        const { app } = faulty
        const timesOut = fault[handler].status === 504

        const first = await app.inject(url)
        assertReply(t, first, fault[handler])
        // Only a thrown non-Error, left to Fastify's own handler, is not a JSON error object.
        if (fault[handler].body.startsWith('{')) assertJsonError(t, first)
        t.match(app.circuitBreaker.snapshot(), { state: 'closed', consecutiveFailures: 1 })
        if (url === '/execute') {
          t.equal(faulty.signals[0]?.aborted, timesOut, 'the signal aborts only at the deadline')
        }

        faulty.settleLate()
        await settled()
        t.match(app.circuitBreaker.snapshot(), { state: 'closed', consecutiveFailures: 1 },
          'an answer after the deadline neither clears nor adds to the count')

        assertReply(t, await app.inject(url), fault[handler])
        t.match(app.circuitBreaker.snapshot(), { state: 'open', consecutiveFailures: 2 },
          'the second failure in a row opens the circuit, as threshold 2 says')

        const rejected = await app.inject(url)
        assertReply(t, rejected, {
          status: 503, contentType: JSON_TYPE, body: openCircuit[handler],
        })
        assertJsonError(t, rejected)
        t.equal(faulty.calls(), 2, 'the open circuit did not call the dependency')

        faulty.settleLate()
        await settled()
        t.same(unhandled, [], 'no unhandled rejection')
      })
    }
  }
}

async function listen (app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  return (app.server.address() as AddressInfo).port
}

/** Sends `GET path` over a real connection; the test hangs up with `destroy()`. */
function openRequest (port: number, path: string): ClientRequest {
  const request = httpRequest({ host: '127.0.0.1', port, path, agent: false })
  // Hanging up ends the request with "socket hang up", which is the point.
  request.on('error', () => {})
  request.end()
  return request
}

/** An app whose routes hold each call until the test fails it, and tell when a client left. */
async function heldApp (t: Test) {
  const { app } = await pluginApp(t, { threshold: 2, halfOpenAfter: 1_000 })
  let arrival = Promise.withResolvers<PromiseWithResolvers<string>>()
  let abort = Promise.withResolvers<void>()
  app.addHook('onRequestAbort', async (_request) => { abort.resolve() })
  const held = () => {
    const answer = Promise.withResolvers<string>()
    arrival.resolve(answer)
    return answer.promise
  }
  app.get('/execute', () => app.circuitBreaker.execute(held))
  app.get('/protected', { config: { circuitBreaker: true } }, held)
  app.get('/fail', { config: { circuitBreaker: true } }, () => { throw new Error('down') })

  return {
    app,
    port: await listen(app),
    /** The held answer of the next call that reaches the dependency. */
    async arrival () {
      const answer = await arrival.promise
      arrival = Promise.withResolvers()
      return answer
    },
    /** Resolves once the server has seen the client go. */
    async clientLeft () {
      await abort.promise
      abort = Promise.withResolvers()
    },
  }
}

t.test('a client that hangs up during execute(): the call runs on and its failure counts',
  async (t) => {
    const held = await heldApp(t)
    const request = openRequest(held.port, '/execute')
    const answer = await held.arrival()

    request.destroy()
    await held.clientLeft()
    answer.reject(new Error('down after the client left'))
    await settled()

    t.match(held.app.circuitBreaker.snapshot(), { state: 'closed', consecutiveFailures: 1 },
      'execute() knows nothing of the client: the dependency did fail')
    const next = await held.app.inject('/fail')
    t.equal(next.statusCode, 500, 'the server still answers')
    assertJsonError(t, next)
    t.same(unhandled, [], 'no unhandled rejection')
  })

t.test('a client that hangs up on a protected route: nothing is counted', async (t) => {
  const held = await heldApp(t)
  await held.app.inject('/fail')
  const request = openRequest(held.port, '/protected')
  const answer = await held.arrival()

  request.destroy()
  await held.clientLeft()
  answer.reject(new Error('down after the client left'))
  await settled()

  t.match(held.app.circuitBreaker.snapshot(), { state: 'closed', consecutiveFailures: 1 },
    'neither a failure nor a success: the count is the one before')
  t.same(unhandled, [], 'no unhandled rejection')
})

t.test('a client that hangs up during a half-open trial: the circuit reopens', async (t) => {
  const clock = fakeClock(t)
  const held = await heldApp(t)
  await held.app.inject('/fail')
  await held.app.inject('/fail')
  clock.tick(1_000)
  const request = openRequest(held.port, '/protected')
  const answer = await held.arrival()
  t.equal(held.app.circuitBreaker.snapshot().state, 'half-open')

  request.destroy()
  await held.clientLeft()
  answer.resolve('too late to close it')
  await settled()

  t.match(held.app.circuitBreaker.snapshot(), { state: 'open' },
    'an abandoned trial is no proof of health')
  const rejected = await held.app.inject('/protected')
  assertReply(t, rejected, { status: 503, contentType: JSON_TYPE, body: openCircuit.fastify })
  t.same(unhandled, [], 'no unhandled rejection')
})

t.test('no rejection went unhandled in this whole file', async (t) => {
  await settled()
  t.same(unhandled, [])
})
