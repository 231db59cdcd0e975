import type { IDisposable, IFailureEvent } from 'cockatiel'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'

import {
  ErrorCodes,
  type CircuitBreaker,
  type CircuitStateName,
} from './circuit-breaker/index.ts'

const STATES: readonly CircuitStateName[] = ['closed', 'open', 'half-open', 'isolated']

/** What became of a call: `ignored` ran but the failure rule did not count it (a 4xx). */
const OUTCOMES = ['success', 'failure', 'timeout', 'rejected', 'ignored'] as const
type Outcome = typeof OUTCOMES[number]

// An HTTP dependency answers in a few milliseconds to a few seconds; the upper buckets
// tell a slow answer from a call cut at a timeout of some seconds.
const CALL_DURATION_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

const metricsSchema = {
  summary: 'Breaker and process metrics for Prometheus',
  tags: ['service'],
  response: {
    200: {
      description: 'Prometheus text exposition format 0.0.4',
      content: { 'text/plain': { schema: { type: 'string' } } },
    },
  },
} as const

interface Instruments {
  state: Gauge<'breaker' | 'state'>
  calls: Counter<'breaker' | 'outcome'>
  transitions: Counter<'breaker' | 'from' | 'to'>
  callDuration: Histogram<'breaker'>
}

/**
 * `GET /metrics` in the Prometheus text format: the process's default metrics, and per
 * breaker its state, calls by outcome, transitions and call durations. Each app has a
 * registry of its own for its breakers. Counting happens in the breakers' event
 * listeners; the state is read when Prometheus scrapes.
 */
async function metrics (app: FastifyInstance): Promise<void> {
  const breakerMetrics = new Registry()
  const instruments = createInstruments(breakerMetrics, app)
  const register = Registry.merge([breakerMetrics, processMetrics()])

  // Every breaker alive now and each one made later; the registry disposes what observe()
  // returns when a per-key breaker is dropped, and every breaker's when the app closes.
  app.circuitBreakers.onCreate((breaker) => observe(breaker, instruments))

  // Scraped every few seconds: two info lines a scrape would drown the log.
  app.get('/metrics', { schema: metricsSchema, logLevel: 'warn' }, async (_request, reply) => {
    reply.type(register.contentType)
    return register.metrics()
  })
}

// The process's metrics are the same for every app in it, and prom-client cannot stop
// their collectors (an event-loop delay monitor, a GC observer): one set serves all apps.
let processRegistry: Registry | undefined

function processMetrics (): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

function createInstruments (register: Registry, app: FastifyInstance): Instruments {
  return {
    // Read at scrape time, so calls pay nothing for it. snapshot() reads `open` past the
    // open period until a call arrives, as GET /circuitbreaker does.
    state: new Gauge({
      name: 'circuit_breaker_state',
      help: 'Current state of each circuit breaker: 1 for its state, 0 for the others',
      labelNames: ['breaker', 'state'],
      registers: [register],
      collect () {
        this.reset()
        for (const breaker of app.circuitBreakers) {
          const { state } = breaker.snapshot()
          for (const each of STATES) {
            this.set({ breaker: breaker.name, state: each }, each === state ? 1 : 0)
          }
        }
      },
    }),
    calls: new Counter({
      name: 'circuit_breaker_calls_total',
      help: 'Calls through each circuit breaker, by outcome',
      labelNames: ['breaker', 'outcome'],
      registers: [register],
    }),
    transitions: new Counter({
      name: 'circuit_breaker_transitions_total',
      help: 'Changes of state of each circuit breaker',
      labelNames: ['breaker', 'from', 'to'],
      registers: [register],
    }),
    callDuration: new Histogram({
      name: 'circuit_breaker_call_duration_seconds',
      help: 'Duration of the calls each circuit breaker let through, whatever their outcome',
      labelNames: ['breaker'],
      buckets: CALL_DURATION_BUCKETS_SECONDS,
      registers: [register],
    }),
  }
}

/**
 * Counts `breaker`'s calls and transitions until the returned handle is disposed, which
 * also removes its series: a dropped per-key breaker leaves `/metrics`, so the series stay
 * as bounded as the breakers are. A key made again starts from 0.
 */
function observe (breaker: CircuitBreaker, instruments: Instruments): IDisposable {
  const { calls, transitions, callDuration } = instruments
  const name = breaker.name

  // Every outcome is shown from the start, at 0, so rates work from the first scrape.
  for (const outcome of OUTCOMES) calls.inc({ breaker: name, outcome }, 0)
  callDuration.zero({ breaker: name })

  const ran = (outcome: Outcome, durationMs: number): void => {
    calls.inc({ breaker: name, outcome })
    callDuration.observe({ breaker: name }, durationMs / 1000)
  }
  const subscriptions = [
    breaker.onSuccess(({ duration }) => ran('success', duration)),
    breaker.onFailure((event) => ran(failureOutcome(event), event.duration)),
    breaker.onReject(() => calls.inc({ breaker: name, outcome: 'rejected' })),
    breaker.onTransition(({ from, to }) => transitions.inc({ breaker: name, from, to })),
  ]

  return {
    dispose: () => {
      for (const subscription of subscriptions) subscription.dispose()
      removeSeries(instruments, name)
    },
  }
}

function failureOutcome ({ handled, reason }: IFailureEvent): Outcome {
  if (!handled) return 'ignored'
  return 'error' in reason && isTimeout(reason.error) ? 'timeout' : 'failure'
}

/**
 * The breaker's own deadline (its `timeout` option), or any dependency's that says so
 * with a 504, as the upstream client enforcing `UPSTREAM_TIMEOUT_MS` does.
 */
function isTimeout (error: unknown): boolean {
  // Object() makes a thrown string, null or undefined something to read fields from.
  const { code, statusCode } = Object(error) as { code?: unknown, statusCode?: unknown }
  return code === ErrorCodes.CALL_TIMEOUT || statusCode === 504
}

function removeSeries (instruments: Instruments, breaker: string): void {
  for (const outcome of OUTCOMES) instruments.calls.remove({ breaker, outcome })
  for (const from of STATES) {
    for (const to of STATES) instruments.transitions.remove({ breaker, from, to })
  }
  instruments.callDuration.remove({ breaker })
}

export default fp(metrics, { name: 'metrics', dependencies: ['fastify-breaker'] })
