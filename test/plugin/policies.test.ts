import FakeTimers from '@sinonjs/fake-timers'
import t from 'tap'

import { TRIAL_DEADLINE_MS, type CircuitBreaker } from '../../plugins/circuit-breaker/breaker.ts'
import { pluginApp } from '../helpers/apps.ts'
import { fakeClock } from '../helpers/clock.ts'

const fail = (): never => { throw new Error('dependency down') }
const succeed = (): string => 'ok'

/** Makes one call per letter of `pattern`, in order: `x` fails, anything else succeeds. */
async function outcomes (breaker: CircuitBreaker, pattern: string): Promise<void> {
  for (const outcome of pattern) {
    await breaker.execute(outcome === 'x' ? fail : succeed).catch(() => {})
  }
}

t.test('count policy: opens when the failure ratio of the last N calls passes it', async (t) => {
  const { app } = await pluginApp(t, {
    policy: { kind: 'count', threshold: 0.5, size: 4, minimumNumberOfCalls: 4 },
  })
  const breaker = app.circuitBreaker

  await outcomes(app.circuitBreaker, 'oxx')
  t.equal(breaker.snapshot().state, 'closed', 'fewer calls than the minimum never open it')

  await outcomes(app.circuitBreaker, 'x')
  t.equal(breaker.snapshot().state, 'open', '3 of 4 failed: over half')
})

t.test('count policy: half of the last calls failing is not more than half', async (t) => {
  const { app } = await pluginApp(t, { policy: { kind: 'count', threshold: 0.5, size: 4 } })

  await outcomes(app.circuitBreaker, 'xoxox')
  t.equal(app.circuitBreaker.snapshot().state, 'closed', 'the last 4 are o x o x: not over half')
  await outcomes(app.circuitBreaker, 'x')
  t.equal(app.circuitBreaker.snapshot().state, 'open', 'the window slid: x o x x')
})

t.test('sampling policy: a failure ratio over a time window, with a minimum rate', async (t) => {
  const clock = fakeClock(t)
  const { app } = await pluginApp(t, {
    policy: { kind: 'sampling', threshold: 0.5, duration: 10_000, minimumRps: 1 },
  })
  const breaker = app.circuitBreaker

  await outcomes(app.circuitBreaker, 'oxxxxxxxx')
  t.equal(breaker.snapshot().state, 'closed', '9 calls in 10 s is below 1 call a second')

  await outcomes(app.circuitBreaker, 'x')
  t.equal(breaker.snapshot().state, 'open', 'the 10th call meets the rate: 9 of 10 failed')

  clock.tick(10_000)
  await outcomes(app.circuitBreaker, 'o')
  t.equal(breaker.snapshot().state, 'closed', 'a successful trial closes it and clears the window')
  await outcomes(app.circuitBreaker, 'xxxxxxxx')
  t.equal(breaker.snapshot().state, 'closed', 'old failures were forgotten: 8 of 9 is too few')
})

t.test('sampling policy: failures that slide out of the window no longer count', async (t) => {
  const clock = fakeClock(t)
  const { app } = await pluginApp(t, {
    policy: { kind: 'sampling', threshold: 0.5, duration: 5_000, minimumRps: 1 },
  })

  await outcomes(app.circuitBreaker, 'xxxx')
  for (let second = 0; second < 5; second++) {
    clock.tick(1_000)
    await outcomes(app.circuitBreaker, 'o')
  }
  await outcomes(app.circuitBreaker, 'x')

  t.equal(app.circuitBreaker.snapshot().state, 'closed', 'the first four failures slid out')
})

t.test('a growing open period: longer after each failed trial, capped, reset', async (t) => {
  const clock = fakeClock(t)
  const { app } = await pluginApp(t, {
    threshold: 1,
    halfOpenAfter: { initial: 1_000, max: 5_000, factor: 3 },
  })
  const breaker = app.circuitBreaker
  const openPeriod = () => {
    const { openedAt, nextTrialAt } = breaker.snapshot()
    return (nextTrialAt ?? 0) - (openedAt ?? 0)
  }

  await t.rejects(breaker.execute(fail))
  const periods = [openPeriod()]
  for (let trial = 0; trial < 3; trial++) {
    clock.tick(openPeriod())
    await t.rejects(breaker.execute(fail), { message: 'dependency down' })
    periods.push(openPeriod())
  }
  t.same(periods, [1_000, 3_000, 5_000, 5_000])

  clock.tick(openPeriod())
  await breaker.execute(succeed)
  await t.rejects(breaker.execute(fail))
  t.equal(openPeriod(), 1_000, 'a new outage starts from the initial period again')
})

t.test('half-open sampling: admits N trials, closes when few enough fail', async (t) => {
  const clock = fakeClock(t)
  const { app } = await pluginApp(t, {
    threshold: 1,
    halfOpenAfter: 1_000,
    halfOpenSampling: { calls: 3, threshold: 0.4 },
  })
  const breaker = app.circuitBreaker
  await t.rejects(breaker.execute(fail))
  clock.tick(1_000)

  const trials = [Promise.withResolvers<string>(), Promise.withResolvers<string>(),
    Promise.withResolvers<string>()]
  const admitted = trials.map((trial) => breaker.execute(() => trial.promise))
  await t.rejects(breaker.execute(succeed), { code: 'FST_BREAKER_CIRCUIT_OPEN' },
    'a fourth call is rejected while three trials are in flight')

  trials[0]!.reject(new Error('one bad trial'))
  trials[1]!.resolve('ok')
  trials[2]!.resolve('ok')
  await Promise.allSettled(admitted)

  t.equal(breaker.snapshot().state, 'closed', '1 of 3 failed: within the 40% allowed')
})

t.test('half-open sampling: reopens as soon as too many trials fail', async (t) => {
  const clock = fakeClock(t)
  const { app } = await pluginApp(t, {
    threshold: 1,
    halfOpenAfter: 1_000,
    halfOpenSampling: { calls: 3, threshold: 0.4 },
  })
  const breaker = app.circuitBreaker
  await t.rejects(breaker.execute(fail))
  clock.tick(1_000)

  await t.rejects(breaker.execute(fail))
  t.equal(breaker.snapshot().state, 'half-open', 'one failure of three is allowed')
  await t.rejects(breaker.execute(fail))
  t.equal(breaker.snapshot().state, 'open', 'the second is not')
})

t.test('timeout: a slow call fails with 504 even if it ignores its signal', async (t) => {
  const { app } = await pluginApp(t, { threshold: 1, timeout: 20 })
  let sawAbort: unknown

  const call = app.circuitBreaker.execute(({ signal }) => {
    signal.addEventListener('abort', () => { sawAbort = signal.reason })
    return new Promise<string>(() => {})
  })

  await t.rejects(call, {
    name: 'CallTimeoutError',
    code: 'FST_BREAKER_CALL_TIMEOUT',
    statusCode: 504,
    breaker: 'default',
    timeoutMs: 20,
  })
  t.match(sawAbort, { code: 'FST_BREAKER_CALL_TIMEOUT' }, 'the function was told to stop')
  t.equal(app.circuitBreaker.snapshot().state, 'open', 'the timeout counted as a failure')
})

t.test('timeout: a call that throws at once fails as it is', async (t) => {
  const { app } = await pluginApp(t, { timeout: 60_000 })

  await t.rejects(app.circuitBreaker.execute(fail), { message: 'dependency down' })
  t.notOk(process.getActiveResourcesInfo().includes('Timeout'), 'its timer was cleared')
})

t.test('timeout: a fast call is unaffected and leaves no timer behind', async (t) => {
  const { app } = await pluginApp(t, { timeout: 60_000 })

  t.equal(await app.circuitBreaker.execute(succeed), 'ok')
  await t.rejects(app.circuitBreaker.execute(async () => fail()), { message: 'dependency down' })

  t.notOk(process.getActiveResourcesInfo().includes('Timeout'), 'both timers were cleared')
})

t.test('timeout: the caller’s own signal reaches the function too', async (t) => {
  const { app } = await pluginApp(t, { timeout: 60_000 })
  const caller = new AbortController()

  const call = app.circuitBreaker.execute(({ signal }) => new Promise((_resolve, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason))
  }), caller.signal)
  caller.abort(new Error('client went away'))

  await t.rejects(call, { message: 'client went away' })
})

t.test('a circuit held open with a growing period hints its first period to retry', async (t) => {
  const { app } = await pluginApp(t, { halfOpenAfter: { initial: 4_000, max: 60_000 } })
  app.circuitBreaker.isolate()

  await t.rejects(app.circuitBreaker.execute(succeed), {
    code: 'FST_BREAKER_CIRCUIT_ISOLATED',
    retryAfterSeconds: 4,
  })
})

t.test('a trial that never ends is cut after a minute and reopens the circuit', async (t) => {
  const { app } = await pluginApp(t, { threshold: 1, halfOpenAfter: 1_000 })
  const breaker = app.circuitBreaker
  // The deadline is a real timer: this test fakes timers as well as Date, for itself only.
  const clock = FakeTimers.install({ toFake: ['Date', 'setTimeout', 'clearTimeout'] })
  try {
    await t.rejects(breaker.execute(fail))
    clock.tick(1_000)

    const hung = breaker.execute(() => new Promise<never>(() => {}))
    clock.tick(TRIAL_DEADLINE_MS)

    await t.rejects(hung, { code: 'FST_BREAKER_CALL_TIMEOUT', timeoutMs: 60_000 })
    t.equal(breaker.snapshot().state, 'open', 'the hung trial counted as a failure')
  } finally {
    clock.uninstall()
  }
})
