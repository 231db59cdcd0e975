import { isBrokenCircuitError } from 'cockatiel'
import t from 'tap'

import { pluginApp } from '../helpers/apps.ts'
import { fakeClock } from '../helpers/clock.ts'

const fail = (): never => { throw new Error('dependency down') }
const succeed = (): string => 'ok'

t.test('opens after threshold consecutive failures and stops calling the dependency', async (t) => {
  fakeClock(t)
  const { app } = await pluginApp(t, { threshold: 3 })
  const breaker = app.circuitBreaker
  let calls = 0
  const failing = () => { calls++; return fail() }

  for (let i = 0; i < 3; i++) {
    await t.rejects(breaker.execute(failing), { message: 'dependency down' })
  }
  t.equal(breaker.snapshot().state, 'open')
  t.equal(breaker.snapshot().consecutiveFailures, 3)

  await t.rejects(breaker.execute(failing), { code: 'FST_BREAKER_CIRCUIT_OPEN', statusCode: 503 })
  t.equal(calls, 3, 'the open circuit did not call the dependency')
})

t.test('a success in between resets the consecutive count', async (t) => {
  const { app } = await pluginApp(t, { threshold: 2 })
  const breaker = app.circuitBreaker

  await t.rejects(breaker.execute(fail))
  t.equal(await breaker.execute(succeed), 'ok')
  await t.rejects(breaker.execute(fail))

  t.same(breaker.snapshot(), {
    name: 'default',
    state: 'closed',
    consecutiveFailures: 1,
    openedAt: null,
    nextTrialAt: null,
  })
})

t.test('open → half-open → closed: a good trial closes and clears the count', async (t) => {
  const clock = fakeClock(t)
  const { app } = await pluginApp(t, { threshold: 1, halfOpenAfter: 10_000 })
  const breaker = app.circuitBreaker
  const openedAt = Date.now()

  await t.rejects(breaker.execute(fail))
  t.same(breaker.snapshot(), {
    name: 'default',
    state: 'open',
    consecutiveFailures: 1,
    openedAt,
    nextTrialAt: openedAt + 10_000,
  })

  clock.tick(9_999)
  await t.rejects(breaker.execute(succeed), { code: 'FST_BREAKER_CIRCUIT_OPEN' })

  clock.tick(1)
  const trial = breaker.execute(succeed)
  t.equal(breaker.snapshot().state, 'half-open', 'the trial is in flight')
  t.equal(await trial, 'ok')

  t.same(breaker.snapshot(), {
    name: 'default',
    state: 'closed',
    consecutiveFailures: 0,
    openedAt: null,
    nextTrialAt: null,
  })
})

t.test('half-open → open: a failed trial opens it for another halfOpenAfter', async (t) => {
  const clock = fakeClock(t)
  const { app } = await pluginApp(t, { threshold: 1, halfOpenAfter: 5_000 })
  const breaker = app.circuitBreaker

  await t.rejects(breaker.execute(fail))
  clock.tick(5_000)
  await t.rejects(breaker.execute(fail), { message: 'dependency down' }, 'the trial ran')

  const reopenedAt = Date.now()
  t.match(breaker.snapshot(), {
    state: 'open', openedAt: reopenedAt, nextTrialAt: reopenedAt + 5_000,
  })
  clock.tick(4_999)
  await t.rejects(breaker.execute(succeed), { code: 'FST_BREAKER_CIRCUIT_OPEN' })
  clock.tick(1)
  t.equal(await breaker.execute(succeed), 'ok')
})

t.test('while a trial is in flight, other calls are rejected at once, not queued', async (t) => {
  const clock = fakeClock(t)
  const { app } = await pluginApp(t, { threshold: 1, halfOpenAfter: 1_000 })
  const breaker = app.circuitBreaker
  await t.rejects(breaker.execute(fail))
  clock.tick(1_000)

  const dependency = Promise.withResolvers<string>()
  let dependencyCalls = 0
  const slowDependency = () => { dependencyCalls++; return dependency.promise }

  const trial = breaker.execute(slowDependency)
  const others = Array.from({ length: 20 }, () => breaker.execute(slowDependency))
  const settled = await Promise.allSettled(others)

  t.equal(dependencyCalls, 1, 'only the trial reached the dependency')
  t.ok(settled.every((outcome) => outcome.status === 'rejected' &&
    outcome.reason.code === 'FST_BREAKER_CIRCUIT_OPEN'),
  'all others rejected while the trial hangs')
  t.equal(settled[0]?.status === 'rejected' && settled[0].reason.headers['retry-after'], '1')

  dependency.resolve('recovered')
  t.equal(await trial, 'recovered')
  t.equal(breaker.snapshot().state, 'closed')
})

t.test('the rejection is a cockatiel broken-circuit error with 503 and Retry-After', async (t) => {
  const clock = fakeClock(t)
  const { app } = await pluginApp(t, { threshold: 1, halfOpenAfter: 10_000 })
  await t.rejects(app.circuitBreaker.execute(fail))

  const atOpening = await app.circuitBreaker.execute(succeed).catch((error: unknown) => error)
  t.ok(isBrokenCircuitError(atOpening), 'cockatiel still recognises it')
  t.match(atOpening, {
    name: 'CircuitOpenError',
    code: 'FST_BREAKER_CIRCUIT_OPEN',
    statusCode: 503,
    breaker: 'default',
    retryAfterSeconds: 10,
    headers: { 'retry-after': '10' },
  })

  const retryAfter = async () => {
    const error = await app.circuitBreaker.execute(succeed).catch((e: unknown) => e)
    return (error as { headers: Record<string, string> }).headers['retry-after']
  }
  clock.tick(8_500)
  t.equal(await retryAfter(), '2', 'whole seconds, rounded up')
  clock.tick(1_499)
  t.equal(await retryAfter(), '1', 'never less than one second')
})

t.test('a host route that lets the rejection propagate answers 503 JSON, no stack', async (t) => {
  fakeClock(t)
  const { app } = await pluginApp(t, { threshold: 1 })
  app.get('/', () => app.circuitBreaker.execute(fail))

  const tripping = await app.inject('/')
  t.equal(tripping.statusCode, 500, 'the call that trips the breaker reports the real failure')

  const rejected = await app.inject('/')
  t.equal(rejected.statusCode, 503)
  t.equal(rejected.headers['retry-after'], '10')
  t.match(rejected.headers['content-type'], /^application\/json/)
  t.same(rejected.json(), {
    statusCode: 503,
    code: 'FST_BREAKER_CIRCUIT_OPEN',
    error: 'Service Unavailable',
    message: 'circuit breaker "default" is open',
  })
})

t.test('a call that began before the circuit opened does not clear its count', async (t) => {
  fakeClock(t)
  const { app } = await pluginApp(t, { threshold: 2 })
  const breaker = app.circuitBreaker
  const slow = Promise.withResolvers<string>()

  const straggler = breaker.execute(() => slow.promise)
  await t.rejects(breaker.execute(fail))
  await t.rejects(breaker.execute(fail))
  t.equal(breaker.snapshot().state, 'open')

  slow.resolve('late')
  t.equal(await straggler, 'late', 'the caller still gets its answer')
  t.match(breaker.snapshot(), { state: 'open', consecutiveFailures: 2 })
})

t.test('a late failure does not reopen the circuit during a half-open trial', async (t) => {
  const clock = fakeClock(t)
  const { app } = await pluginApp(t, { threshold: 1, halfOpenAfter: 1_000 })
  const breaker = app.circuitBreaker
  const straggler = Promise.withResolvers<string>()

  const lateCall = breaker.execute(() => straggler.promise)
  await t.rejects(breaker.execute(fail))
  clock.tick(1_000)
  const trial = Promise.withResolvers<string>()
  const trialCall = breaker.execute(() => trial.promise)

  straggler.reject(new Error('late failure'))
  await t.rejects(lateCall, { message: 'late failure' })
  t.equal(breaker.snapshot().state, 'half-open', 'the stale failure was ignored')

  trial.resolve('ok')
  await trialCall
  t.equal(breaker.snapshot().state, 'closed')
})

t.test('errors with a 4xx status are the caller’s fault: they never open it', async (t) => {
  const { app } = await pluginApp(t, { threshold: 1 })
  const badRequest = Object.assign(new Error('bad input'), { statusCode: 400 })

  await t.rejects(app.circuitBreaker.execute(() => { throw badRequest }), badRequest)
  t.match(app.circuitBreaker.snapshot(), { state: 'closed', consecutiveFailures: 0 })
})

t.test('isFailure decides what counts', async (t) => {
  const { app } = await pluginApp(t, {
    threshold: 1,
    isFailure: (error) => (error as Error).message !== 'ignorable',
  })

  await t.rejects(app.circuitBreaker.execute(() => { throw new Error('ignorable') }))
  t.equal(app.circuitBreaker.snapshot().state, 'closed')
  await t.rejects(app.circuitBreaker.execute(fail))
  t.equal(app.circuitBreaker.snapshot().state, 'open')
})

t.test('an isolated circuit rejects with an isolated-circuit error until released', async (t) => {
  const { app } = await pluginApp(t, { halfOpenAfter: 30_000 })
  const handle = app.circuitBreaker.isolate()

  const error = await app.circuitBreaker.execute(succeed).catch((e: unknown) => e)
  t.match(error, {
    code: 'FST_BREAKER_CIRCUIT_ISOLATED',
    statusCode: 503,
    isIsolatedCircuitError: true,
    headers: { 'retry-after': '30' },
  })
  t.equal(app.circuitBreaker.snapshot().state, 'isolated')

  handle.dispose()
  handle.dispose()
  t.equal(await app.circuitBreaker.execute(succeed), 'ok')
})

t.test('toJSON() saves the state as cockatiel does, with the failure count', async (t) => {
  const { app } = await pluginApp(t, { threshold: 5 })
  await t.rejects(app.circuitBreaker.execute(fail))
  await t.rejects(app.circuitBreaker.execute(fail))

  t.same(app.circuitBreaker.toJSON(), { ownState: { value: 0 }, breakerState: 2 })
})

t.test('reset() closes an open circuit and forgets its failures, logged once', async (t) => {
  fakeClock(t)
  const { app, logs } = await pluginApp(t, { threshold: 2 })
  const breaker = app.circuitBreaker
  await t.rejects(breaker.execute(fail))
  await t.rejects(breaker.execute(fail))

  breaker.reset()

  t.same(breaker.snapshot(), {
    name: 'default', state: 'closed', consecutiveFailures: 0, openedAt: null, nextTrialAt: null,
  })
  t.equal(await breaker.execute(succeed), 'ok')
  t.match(logs.filter((line) => 'to' in line), [
    { from: 'closed', to: 'open' },
    { from: 'open', to: 'closed', reason: 'reset by hand', msg: 'circuit closed' },
  ])
  t.equal(logs.filter((line) => 'to' in line).length, 2, 'no passing through "isolated"')
})

t.test('reset() of a closed circuit clears its count; of an isolated one, nothing', async (t) => {
  const { app } = await pluginApp(t, { threshold: 2 })
  const breaker = app.circuitBreaker

  await t.rejects(breaker.execute(fail))
  breaker.reset()
  await t.rejects(breaker.execute(fail))
  t.match(breaker.snapshot(), { state: 'closed', consecutiveFailures: 1 }, 'counting restarted')

  const held = breaker.isolate()
  breaker.reset()
  t.equal(breaker.snapshot().state, 'isolated', 'an isolation is only ended by its release')
  held.dispose()
})

t.test('reset() during a trial: the trial’s late outcome changes nothing', async (t) => {
  const clock = fakeClock(t)
  const { app } = await pluginApp(t, { threshold: 1, halfOpenAfter: 1_000 })
  const breaker = app.circuitBreaker
  await t.rejects(breaker.execute(fail))
  clock.tick(1_000)
  const trial = Promise.withResolvers<string>()
  const trialCall = breaker.execute(() => trial.promise)

  breaker.reset()
  trial.reject(new Error('late'))
  await t.rejects(trialCall)

  t.match(breaker.snapshot(), { state: 'closed', consecutiveFailures: 0 })
})

t.test('onReject tells of every call turned away', async (t) => {
  const { app } = await pluginApp(t, { threshold: 1 })
  const rejected: string[] = []
  app.circuitBreaker.onReject((error) => rejected.push(error.code))

  await t.rejects(app.circuitBreaker.execute(fail))
  await t.rejects(app.circuitBreaker.execute(succeed))
  t.ok(app.circuitBreaker.begin() instanceof Error)

  t.same(rejected, ['FST_BREAKER_CIRCUIT_OPEN', 'FST_BREAKER_CIRCUIT_OPEN'])
})
