import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'

import type { CircuitBreakerPluginOptions } from '../../plugins/circuit-breaker/index.ts'
import { pluginApp, serviceApp } from '../helpers/apps.ts'
import { fakeClock } from '../helpers/clock.ts'
import type { LogLine } from '../helpers/logs.ts'
import { seededRandom } from '../helpers/random.ts'

const CONCURRENT_REQUESTS = 200

const openBody = {
  statusCode: 503,
  code: 'FST_BREAKER_CIRCUIT_OPEN',
  error: 'Service Unavailable',
  message: 'circuit breaker "default" is open',
}

/**
 * A plugin app, half-open once its clock moves, whose routes hold every call that reaches
 * the dependency until the test answers it: one route calls `execute()`, one is protected.
 */
async function halfOpenApp (t: Test, options: CircuitBreakerPluginOptions) {
  const clock = fakeClock(t)
  const { app } = await pluginApp(t, { threshold: 1, halfOpenAfter: 1_000, ...options })
  const held: Array<PromiseWithResolvers<string>> = []
  const dependency = () => {
    const answer = Promise.withResolvers<string>()
    held.push(answer)
    return answer.promise
  }
  app.get('/execute', () => app.circuitBreaker.execute(dependency))
  app.get('/protected', { config: { circuitBreaker: true } }, dependency)

  await t.rejects(app.circuitBreaker.execute(() => { throw new Error('down') }))
  clock.tick(1_000)
  return { app, held }
}

/**
 * Fires `count` requests together and resolves once all but those still held by the
 * dependency have answered: the held ones keep their responses pending.
 */
function fireTogether (app: FastifyInstance, url: string, count: number, held: () => number) {
  const answered: LightMyRequestResponse[] = []
  const everyUnheld = Promise.withResolvers<void>()
  const all = Array.from({ length: count }, () => app.inject(url).then((response) => {
    answered.push(response)
    if (answered.length === count - held()) everyUnheld.resolve()
    return response
  }))
  return { all: Promise.all(all), answered, everyUnheld: everyUnheld.promise }
}

const samplings = [
  { trials: 1, options: {}, named: 'one trial (the default)' },
  {
    trials: 5,
    options: { halfOpenSampling: { calls: 5, threshold: 0.2 } },
    named: 'halfOpenSampling of 5 calls',
  },
]

for (const { trials, options, named } of samplings) {
  for (const url of ['/execute', '/protected']) {
    t.test(`half-open with ${named}: of ${CONCURRENT_REQUESTS} requests at once to ${url}, ` +
      `exactly ${trials} reach the dependency`, async (t) => {
      const { app, held } = await halfOpenApp(t, options)

      const load = fireTogether(app, url, CONCURRENT_REQUESTS, () => held.length)
      await load.everyUnheld

      t.equal(held.length, trials, 'only the trials reached the dependency')
      t.equal(load.answered.length, CONCURRENT_REQUESTS - trials)
      for (const rejected of load.answered) {
        t.equal(rejected.statusCode, 503)
        t.equal(rejected.headers['retry-after'], '1')
        t.same(rejected.json(), openBody)
      }
      t.equal(app.circuitBreaker.snapshot().state, 'half-open', 'the trials are still in flight')

      for (const answer of held) answer.resolve('recovered')
      const statuses = (await load.all).map((response) => response.statusCode)
      t.equal(statuses.filter((status) => status === 200).length, trials)
      t.same(app.circuitBreaker.snapshot(), {
        name: 'default',
        state: 'closed',
        consecutiveFailures: 0,
        openedAt: null,
        nextTrialAt: null,
      }, 'the successful trials closed the circuit')
    })
  }
}

/** `circuit_breaker_calls_total` of the default breaker, by outcome, from `/metrics`. */
function callCounts (metrics: string): Record<string, number> {
  const counts: Record<string, number> = {}
  const line = /^circuit_breaker_calls_total\{breaker="default",outcome="(\w+)"\} (\d+)$/gm
  for (const [, outcome = '', count = ''] of metrics.matchAll(line)) counts[outcome] = Number(count)
  return counts
}

/** `circuit_breaker_transitions_total` of the default breaker, as `from>to` keys. */
function transitionCounts (metrics: string): Record<string, number> {
  const counts: Record<string, number> = {}
  const line = /^circuit_breaker_transitions_total\{breaker="default",from="([\w-]+)",to="([\w-]+)"\} (\d+)$/gm
  for (const [, from, to, count = ''] of metrics.matchAll(line)) {
    if (count !== '0') counts[`${from}>${to}`] = Number(count)
  }
  return counts
}

function loggedTransitions (logs: LogLine[]): Array<{ from: string, to: string }> {
  return logs
    .filter((line) => line.breaker === 'default' && 'to' in line)
    .map((line) => ({ from: String(line.from), to: String(line.to) }))
}

t.test('under a mixed load at 50% failure, every transition follows the last and the ' +
  'metrics count every answer', async (t) => {
  const clock = fakeClock(t)
  const random = seededRandom(20_261_203)
  const { app, logs } = await serviceApp(t, {
    env: { FAIL_MAX: '3', RESET_TIMEOUT: '1', FAILURE_RATE: '0.5' },
    random,
  })
  const statuses: Record<number, number> = {}
  let requests = 0
  let turnedAwayDuringTrial = 0
  app.circuitBreaker.onReject(() => {
    if (app.circuitBreaker.snapshot().state === 'half-open') turnedAwayDuringTrial++
  })

  while (requests < 3_000) {
    // Bursts of up to 40 requests at once, with pauses that let the circuit half-open.
    const burst = 1 + Math.floor(random() * 40)
    const inFlight = Array.from({ length: burst }, () => app.inject('/unstable'))
    const responses = await Promise.all(inFlight)
    for (const { statusCode } of responses) statuses[statusCode] = (statuses[statusCode] ?? 0) + 1
    requests += burst
    clock.tick(Math.floor(random() * 700))
  }

  t.same(Object.keys(statuses).sort(), ['200', '500', '503'], 'only these answers came')
  t.ok(turnedAwayDuringTrial > 0, 'requests overlapped: some came while a trial was in flight')
  const transitions = loggedTransitions(logs)
  const kinds = new Set(transitions.map(({ from, to }) => `${from}>${to}`))
  t.same([...kinds].sort(), ['closed>open', 'half-open>closed', 'half-open>open', 'open>half-open'],
    'the load went through every transition')
  t.equal(transitions[0]?.from, 'closed')
  const outOfOrder = transitions.filter((transition, at) =>
    at > 0 && transition.from !== transitions[at - 1]?.to)
  t.same(outOfOrder, [], 'each transition starts where the one before ended')
  t.notOk(transitions.some(({ from, to }) => from === to), 'no transition to the same state')

  const metrics = (await app.inject('/metrics')).body
  t.same(callCounts(metrics), {
    success: statuses[200],
    failure: statuses[500],
    timeout: 0,
    rejected: statuses[503],
    ignored: 0,
  }, 'every 200, 500 and 503 was counted once, under its outcome')
  const logged: Record<string, number> = {}
  for (const { from, to } of transitions) {
    logged[`${from}>${to}`] = (logged[`${from}>${to}`] ?? 0) + 1
  }
  t.same(transitionCounts(metrics), logged, 'the metrics count the transitions that were logged')
})
