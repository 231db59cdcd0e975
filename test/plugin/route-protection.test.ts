import { request as httpRequest, type ClientRequest } from 'node:http'
import type { AddressInfo } from 'node:net'

import type { FastifyInstance, LightMyRequestResponse, RouteHandlerMethod } from 'fastify'
import t from 'tap'

import { UnknownBreakerError } from '../../plugins/circuit-breaker/index.ts'
import { pluginApp } from '../helpers/apps.ts'
import { fakeClock } from '../helpers/clock.ts'
import { LEVELS, transitions } from '../helpers/logs.ts'

const JSON_TYPE = 'application/json; charset=utf-8'
const TEXT_TYPE = 'text/plain; charset=utf-8'

const failing = (): never => { throw new Error('dependency down') }

/**
 * A handler that waits until the test answers for it. Each request that reaches it hands
 * the test its answer through `arrival()`; await one arrival before sending the next.
 */
function heldHandler () {
  let calls = 0
  let arrival = Promise.withResolvers<PromiseWithResolvers<string>>()

  return {
    get calls () { return calls },
    handler: async (): Promise<string> => {
      calls++
      const answer = Promise.withResolvers<string>()
      arrival.resolve(answer)
      return answer.promise
    },
    async arrival (): Promise<PromiseWithResolvers<string>> {
      const answer = await arrival.promise
      arrival = Promise.withResolvers()
      return answer
    },
  }
}

/** Every header but `date`, which Node stamps from its own cached clock, not the fake one. */
function headersOf (response: LightMyRequestResponse): Record<string, unknown> {
  const headers: Record<string, unknown> = { ...response.headers }
  delete headers.date
  return headers
}

/** Lets the outcome a hook just reported travel through cockatiel's promise chain. */
const settled = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

async function listen (app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  return (app.server.address() as AddressInfo).port
}

/** Sends `GET path` over a real connection; the test hangs up with `destroy()`. */
function openRequest (port: number, path: string): ClientRequest {
  const request = httpRequest({ host: '127.0.0.1', port, path })
  // Hanging up ends the request with "socket hang up", which is the point.
  request.on('error', () => {})
  request.end()
  return request
}

t.test('an open circuit answers 503 with Retry-After before the route handler runs', async (t) => {
  fakeClock(t)
  const { app } = await pluginApp(t, {
    breakers: { payments: { threshold: 2, halfOpenAfter: 30_000 } },
  })
  let hookCalls = 0
  let handlerCalls = 0
  app.get('/checkout', {
    config: { circuitBreaker: 'payments' },
    onRequest: [async () => { hookCalls++ }],
  }, () => {
    handlerCalls++
    return failing()
  })

  for (let i = 0; i < 2; i++) t.equal((await app.inject('/checkout')).statusCode, 500)
  const rejected = await app.inject('/checkout')

  t.equal(rejected.statusCode, 503)
  t.same(headersOf(rejected), {
    'retry-after': '30',
    'content-type': JSON_TYPE,
    'content-length': '131',
    connection: 'keep-alive',
  })
  t.same(rejected.json(), {
    statusCode: 503,
    code: 'FST_BREAKER_CIRCUIT_OPEN',
    error: 'Service Unavailable',
    message: 'circuit breaker "payments" is open',
  })
  t.equal(handlerCalls, 2, 'the handler did not run for the rejected request')
  t.equal(hookCalls, 3, 'the route’s own onRequest hooks run before the admission')
  t.match(app.circuitBreakers.get('payments').snapshot(), { state: 'open', consecutiveFailures: 2 },
    'the rejection itself is not counted')
  t.match(app.circuitBreaker.snapshot(), { state: 'closed', consecutiveFailures: 0 },
    'the default breaker is not involved')
})

t.test('config true protects a route with the default breaker, whatever its name', async (t) => {
  const { app } = await pluginApp(t, { name: 'main', threshold: 1 })
  app.get('/', { config: { circuitBreaker: true } }, failing)
  app.get('/unguarded', failing)

  t.equal((await app.inject('/unguarded')).statusCode, 500)
  t.equal(app.circuitBreaker.snapshot().consecutiveFailures, 0, 'a route without config is free')
  t.equal((await app.inject('/')).statusCode, 500)
  t.match(app.circuitBreaker.snapshot(), { name: 'main', state: 'open', consecutiveFailures: 1 })
  t.match((await app.inject('/')).json(), { message: 'circuit breaker "main" is open' })
})

const thrownString: unknown = 'dependency down'
const thrownNothing: unknown = undefined

const failures: Array<{
  does: string
  handler: RouteHandlerMethod
  status: number
  headers: Record<string, string>
  body: string
  err: unknown
}> = [
  {
    does: 'throws synchronously',
    handler: failing,
    status: 500,
    headers: { 'content-type': JSON_TYPE, 'content-length': '78' },
    body: '{"statusCode":500,"error":"Internal Server Error","message":"dependency down"}',
    err: { type: 'Error', message: 'dependency down' },
  },
  {
    does: 'rejects',
    handler: async () => { throw new Error('dependency down') },
    status: 500,
    headers: { 'content-type': JSON_TYPE, 'content-length': '78' },
    body: '{"statusCode":500,"error":"Internal Server Error","message":"dependency down"}',
    err: { type: 'Error', message: 'dependency down' },
  },
  {
    does: 'throws a string',
    handler: () => { throw thrownString },
    status: 500,
    headers: { 'content-type': TEXT_TYPE, 'content-length': '15' },
    body: 'dependency down',
    err: 'dependency down',
  },
  {
    does: 'throws undefined',
    handler: () => { throw thrownNothing },
    status: 500,
    headers: { 'content-length': '0' },
    body: '',
    err: { type: 'FailedReply', message: 'the route answered 500', statusCode: 500 },
  },
  {
    does: 'replies 502 without throwing',
    handler: (_request, reply) => { reply.code(502).send({ error: 'bad gateway' }) },
    status: 502,
    headers: { 'content-type': JSON_TYPE, 'content-length': '23' },
    body: '{"error":"bad gateway"}',
    err: { type: 'FailedReply', message: 'the route answered 502', statusCode: 502 },
  },
]

for (const failure of failures) {
  t.test(`a route that ${failure.does} counts as a failure`, async (t) => {
    const { app, logs } = await pluginApp(t, { breakers: { payments: { threshold: 1 } } })
    app.get('/', { config: { circuitBreaker: 'payments' } }, failure.handler)

    const response = await app.inject('/')

    t.equal(response.statusCode, failure.status)
    t.same(headersOf(response), { ...failure.headers, connection: 'keep-alive' })
    t.equal(response.body, failure.body)
    t.match(app.circuitBreakers.get('payments').snapshot(), {
      state: 'open',
      consecutiveFailures: 1,
    })
    t.match(transitions(logs), [{
      level: LEVELS.warn,
      breaker: 'payments',
      to: 'open',
      reason: 'failure threshold reached',
      err: failure.err,
    }], 'the opening names what failed')
  })
}

const successes: Array<{ does: string, handler: RouteHandlerMethod, status: number }> = [
  { does: 'answers 200', handler: () => 'ok', status: 200 },
  { does: 'answers 204', handler: (_request, reply) => { reply.code(204).send() }, status: 204 },
  {
    does: 'redirects with 302',
    handler: (_request, reply) => { reply.redirect('/elsewhere') },
    status: 302,
  },
  {
    does: 'replies 404',
    handler: (_request, reply) => { reply.code(404).send({ error: 'no such order' }) },
    status: 404,
  },
  {
    does: 'throws an error with a 400 status',
    handler: () => { throw Object.assign(new Error('bad order id'), { statusCode: 400 }) },
    status: 400,
  },
]

for (const success of successes) {
  t.test(`a route that ${success.does} counts as a success and resets the count`, async (t) => {
    const { app } = await pluginApp(t, { threshold: 2 })
    app.get('/fail', { config: { circuitBreaker: true } }, failing)
    app.get('/', { config: { circuitBreaker: true } }, success.handler)

    await app.inject('/fail')
    t.equal(app.circuitBreaker.snapshot().consecutiveFailures, 1)

    t.equal((await app.inject('/')).statusCode, success.status)
    t.match(app.circuitBreaker.snapshot(), { state: 'closed', consecutiveFailures: 0 })
  })
}

t.test('a handler slower than timeout gets 504 and counts as a failure', async (t) => {
  const { app } = await pluginApp(t, { breakers: { reports: { threshold: 3, timeout: 50 } } })
  app.get('/', { config: { circuitBreaker: 'reports' } }, () => new Promise<never>(() => {}))

  const response = await app.inject('/')

  t.equal(response.statusCode, 504)
  t.same(headersOf(response), {
    'content-type': JSON_TYPE,
    'content-length': '153',
    connection: 'keep-alive',
  })
  t.same(response.json(), {
    statusCode: 504,
    code: 'FST_BREAKER_CALL_TIMEOUT',
    error: 'Gateway Timeout',
    message: 'call through circuit breaker "reports" timed out after 50 ms',
  })
  t.match(app.circuitBreakers.get('reports').snapshot(), { consecutiveFailures: 1 })
})

t.test('a hijacked reply is left to its handler at the deadline', async (t) => {
  const { app } = await pluginApp(t, { threshold: 3, timeout: 50 })
  app.get('/', { config: { circuitBreaker: true } }, async (_request, reply) => {
    reply.hijack()
    await new Promise((resolve) => setTimeout(resolve, 60))
    reply.raw.writeHead(200, { 'content-type': 'text/plain' }).end('written by hand')
  })

  const response = await app.inject('/')

  t.equal(response.statusCode, 200)
  t.equal(response.body, 'written by hand', 'no 504 was written over it')
  t.equal(app.circuitBreaker.snapshot().consecutiveFailures, 1,
    'the call still overran its timeout, which the breaker counts')
})

t.test('half-open: the first request is the trial, others get 503 at once', async (t) => {
  const clock = fakeClock(t)
  const { app } = await pluginApp(t, { threshold: 1, halfOpenAfter: 1_000 })
  const held = heldHandler()
  app.get('/fail', { config: { circuitBreaker: true } }, failing)
  app.get('/', { config: { circuitBreaker: true } }, held.handler)

  await app.inject('/fail')
  clock.tick(1_000)
  const trial = app.inject('/')
  const answer = await held.arrival()
  t.equal(app.circuitBreaker.snapshot().state, 'half-open')

  const others = await Promise.all(Array.from({ length: 5 }, () => app.inject('/')))
  for (const rejected of others) {
    t.equal(rejected.statusCode, 503)
    t.equal(rejected.headers['retry-after'], '1')
    t.same(rejected.json(), {
      statusCode: 503,
      code: 'FST_BREAKER_CIRCUIT_OPEN',
      error: 'Service Unavailable',
      message: 'circuit breaker "default" is open',
    })
  }
  t.equal(held.calls, 1, 'only the trial reached the handler')

  answer.resolve('recovered')
  t.equal((await trial).body, 'recovered')
  t.same(app.circuitBreaker.snapshot(), {
    name: 'default',
    state: 'closed',
    consecutiveFailures: 0,
    openedAt: null,
    nextTrialAt: null,
  }, 'the successful trial closed the circuit')
})

t.test('half-open: a failed trial opens the circuit for another halfOpenAfter', async (t) => {
  const clock = fakeClock(t)
  const { app } = await pluginApp(t, { threshold: 1, halfOpenAfter: 5_000 })
  const held = heldHandler()
  app.get('/fail', { config: { circuitBreaker: true } }, failing)
  app.get('/', { config: { circuitBreaker: true } }, held.handler)

  await app.inject('/fail')
  clock.tick(5_000)
  const trial = app.inject('/')
  ;(await held.arrival()).reject(new Error('still down'))

  t.equal((await trial).statusCode, 500)
  const reopenedAt = Date.now()
  t.same(app.circuitBreaker.snapshot(), {
    name: 'default',
    state: 'open',
    consecutiveFailures: 2,
    openedAt: reopenedAt,
    nextTrialAt: reopenedAt + 5_000,
  })
  const rejected = await app.inject('/')
  t.equal(rejected.statusCode, 503)
  t.equal(rejected.headers['retry-after'], '5')
  t.equal(held.calls, 1)
})

t.test('a request that began before the circuit opened cannot close it or clear its count',
  async (t) => {
    fakeClock(t)
    const { app } = await pluginApp(t, { threshold: 2 })
    const held = heldHandler()
    app.get('/fail', { config: { circuitBreaker: true } }, failing)
    app.get('/', { config: { circuitBreaker: true } }, held.handler)

    const straggler = app.inject('/')
    const answer = await held.arrival()
    await app.inject('/fail')
    await app.inject('/fail')
    t.equal(app.circuitBreaker.snapshot().state, 'open')

    answer.resolve('late but fine')
    t.equal((await straggler).body, 'late but fine', 'its client still gets the answer')
    t.match(app.circuitBreaker.snapshot(), { state: 'open', consecutiveFailures: 2 })
    t.equal((await app.inject('/')).statusCode, 503)
  })

t.test('a request that began before the circuit opened cannot reopen it during a trial',
  async (t) => {
    const clock = fakeClock(t)
    const { app } = await pluginApp(t, { threshold: 1, halfOpenAfter: 1_000 })
    const held = heldHandler()
    app.get('/fail', { config: { circuitBreaker: true } }, failing)
    app.get('/', { config: { circuitBreaker: true } }, held.handler)

    const straggler = app.inject('/')
    const late = await held.arrival()
    await app.inject('/fail')
    clock.tick(1_000)
    const trial = app.inject('/')
    const trialAnswer = await held.arrival()

    late.reject(new Error('late failure'))
    t.equal((await straggler).statusCode, 500)
    t.equal(app.circuitBreaker.snapshot().state, 'half-open', 'the stale failure was ignored')

    trialAnswer.resolve('ok')
    await trial
    t.equal(app.circuitBreaker.snapshot().state, 'closed')
  })

t.test('a route naming an unknown breaker fails when it is declared', async (t) => {
  const { app } = await pluginApp(t, { breakers: { payments: {} } })

  const error = (() => {
    try {
      app.get('/', { config: { circuitBreaker: 'paymnets' } }, () => 'never served')
    } catch (error) {
      return error
    }
  })()

  t.ok(error instanceof UnknownBreakerError)
  t.match(error, {
    name: 'UnknownBreakerError',
    code: 'FST_BREAKER_UNKNOWN_BREAKER',
    breaker: 'paymnets',
    message: 'no circuit breaker is named "paymnets"; known: default, payments',
  })
})

t.test('a route naming an unknown breaker inside a plugin fails app.ready()', async (t) => {
  const { app } = await pluginApp(t)
  app.register(async (child) => {
    child.get('/', { config: { circuitBreaker: 'payments' } }, () => 'never served')
  })

  await t.rejects(async () => { await app.ready() }, {
    code: 'FST_BREAKER_UNKNOWN_BREAKER',
    message: 'no circuit breaker is named "payments"; known: default',
  })
})

t.test('a client that hangs up mid-request is no verdict, and the server carries on',
  async (t) => {
    const { app } = await pluginApp(t, { threshold: 2 })
    const held = heldHandler()
    const hungUp = Promise.withResolvers<void>()
    app.get('/fail', { config: { circuitBreaker: true } }, failing)
    app.get('/', { config: { circuitBreaker: true } }, (request) => {
      request.raw.once('close', () => hungUp.resolve())
      return held.handler()
    })
    const port = await listen(app)

    await app.inject('/fail')
    const request = openRequest(port, '/')
    const answer = await held.arrival()
    request.destroy()
    await hungUp.promise
    await settled()
    answer.resolve('nobody is listening')
    await settled()

    t.match(app.circuitBreaker.snapshot(), { state: 'closed', consecutiveFailures: 1 },
      'neither a failure (it would open) nor a success (it would reset the count)')
    const response = await fetch(`http://127.0.0.1:${port}/fail`)
    t.equal(response.status, 500, 'the server still answers')
    t.equal(app.circuitBreaker.snapshot().state, 'open')
  })

t.test('a half-open trial whose client hangs up reopens the circuit instead of closing it',
  async (t) => {
    const clock = fakeClock(t)
    const { app, logs } = await pluginApp(t, { threshold: 1, halfOpenAfter: 1_000 })
    const held = heldHandler()
    const hungUp = Promise.withResolvers<void>()
    app.get('/fail', { config: { circuitBreaker: true } }, failing)
    app.get('/ok', { config: { circuitBreaker: true } }, () => 'back')
    app.get('/', { config: { circuitBreaker: true } }, (request) => {
      request.raw.once('close', () => hungUp.resolve())
      return held.handler()
    })
    const port = await listen(app)

    await app.inject('/fail')
    clock.tick(1_000)
    const request = openRequest(port, '/')
    const answer = await held.arrival()
    t.equal(app.circuitBreaker.snapshot().state, 'half-open')

    request.destroy()
    await hungUp.promise
    await settled()
    answer.resolve('too late')
    await settled()

    const reopenedAt = Date.now()
    t.same(app.circuitBreaker.snapshot(), {
      name: 'default',
      state: 'open',
      consecutiveFailures: 2,
      openedAt: reopenedAt,
      nextTrialAt: reopenedAt + 1_000,
    }, 'the late answer to nobody did not close it either')
    const [reopening] = transitions(logs).slice(-1)
    t.match(reopening, {
      level: LEVELS.warn,
      from: 'half-open',
      to: 'open',
      reason: 'trial call abandoned by its caller',
    })
    t.notOk(reopening !== undefined && 'err' in reopening, 'no failure to show: nobody failed')

    clock.tick(1_000)
    t.equal((await app.inject('/ok')).body, 'back', 'the next trial is admitted as usual')
    t.equal(app.circuitBreaker.snapshot().state, 'closed')
  })

// Regression: Fastify reports a hang-up once, and sends no onResponse after it. A client
// that left while an earlier hook ran had its trial admitted afterwards and never settled,
// which held the circuit half-open, rejecting every request, for good.
t.test('a client that hangs up before its admission leaves no trial hanging', async (t) => {
  const clock = fakeClock(t)
  const { app, logs } = await pluginApp(t, { threshold: 1, halfOpenAfter: 1_000 })
  const inHook = Promise.withResolvers<void>()
  const hookDone = Promise.withResolvers<void>()
  const hungUp = Promise.withResolvers<void>()
  const handled = Promise.withResolvers<void>()
  app.get('/fail', { config: { circuitBreaker: true } }, failing)
  app.get('/ok', { config: { circuitBreaker: true } }, () => 'back')
  app.get('/', {
    config: { circuitBreaker: true },
    onRequest: async (request) => {
      request.raw.once('close', () => hungUp.resolve())
      inHook.resolve()
      await hookDone.promise
    },
  }, () => {
    handled.resolve()
    return 'nobody is listening'
  })
  const port = await listen(app)

  await app.inject('/fail')
  clock.tick(1_000)
  const request = openRequest(port, '/')
  await inHook.promise
  request.destroy()
  await hungUp.promise
  hookDone.resolve()
  await handled.promise
  await settled()

  t.match(app.circuitBreaker.snapshot(), { state: 'open', consecutiveFailures: 2 },
    'the trial admitted after the hang-up counted as abandoned')
  t.match(transitions(logs).slice(-1), [
    { from: 'half-open', to: 'open', reason: 'trial call abandoned by its caller' },
  ])

  clock.tick(1_000)
  t.equal((await app.inject('/ok')).body, 'back', 'a new trial was admitted')
  t.equal(app.circuitBreaker.snapshot().state, 'closed')
})

t.test('a request refused by validation never reached the dependency: it is no call', async (t) => {
  const clock = fakeClock(t)
  const { app } = await pluginApp(t, { threshold: 2, halfOpenAfter: 1_000 })
  let handlerCalls = 0
  app.post('/orders', {
    config: { circuitBreaker: true },
    schema: { body: { type: 'object', required: ['id'] } },
  }, () => { handlerCalls++; return failing() })
  const order = (payload: object) => app.inject({ method: 'POST', url: '/orders', payload })

  await order({ id: 1 })
  t.equal((await order({})).statusCode, 400)
  t.equal(app.circuitBreaker.snapshot().consecutiveFailures, 1, 'the 400 reset nothing')

  await order({ id: 2 })
  clock.tick(1_000)
  t.equal((await order({})).statusCode, 400, 'refused before admission, even when half-open due')
  t.equal(app.circuitBreaker.snapshot().state, 'open', 'a bad request cannot close the circuit')
  t.equal(handlerCalls, 2)
})

t.test('a route keeps its own preHandlers, one or several, and runs them first', async (t) => {
  const { app } = await pluginApp(t, { threshold: 1 })
  const order: string[] = []
  const note = (what: string) => (_request: unknown, _reply: unknown, done: () => void) => {
    order.push(what)
    done()
  }
  const handler = () => { order.push('handler'); return 'ok' }
  app.get('/one', { config: { circuitBreaker: true }, preHandler: note('one') }, handler)
  app.get('/two', {
    config: { circuitBreaker: true },
    preHandler: [note('first'), note('second')],
  }, handler)

  t.equal((await app.inject('/one')).body, 'ok')
  t.equal((await app.inject('/two')).body, 'ok')
  t.same(order, ['one', 'handler', 'first', 'second', 'handler'])
})
