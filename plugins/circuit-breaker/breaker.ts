import {
  CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  ConstantBackoff,
  EventEmitter,
  type IBackoffFactory,
  type IDefaultPolicyContext,
  type IHalfOpenAfterBackoffContext,
} from 'cockatiel'
// cockatiel builds this wrapper inside its circuitBreaker() factory; a subclass has to
// build it itself. cockatiel 4 has no exports map, so the module is reachable.
import { ExecuteWrapper } from 'cockatiel/dist/common/Executor.js'

import { CircuitIsolatedError, CircuitOpenError, withoutStackTrace } from './errors.ts'
import type { ResolvedBreakerOptions } from './options.ts'
import { OutcomeGate } from './outcome-gate.ts'

export type CircuitStateName = 'closed' | 'open' | 'half-open' | 'isolated'

/** What an operator wants to know about a breaker at a glance. */
export interface CircuitSnapshot {
  name: string
  state: CircuitStateName
  /** Failures in a row; a success, a reset or a closing trial clears it. */
  consecutiveFailures: number
  /** When the circuit last opened (epoch ms), while it is open or half-open. */
  openedAt: number | null
  /** When the next trial call will be admitted (epoch ms), while it is open. */
  nextTrialAt: number | null
}

/** One change of state, with why it happened. */
export interface CircuitTransition {
  breaker: string
  from: CircuitStateName
  to: CircuitStateName
  reason: string
  /** The failure that opened the circuit, when a failure did. */
  error?: unknown
}

const STATE_NAMES: Record<CircuitState, CircuitStateName> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'isolated',
}

/**
 * A cockatiel circuit breaker that answers for itself while the circuit is not closed.
 *
 * cockatiel queues calls behind a half-open trial; this breaker rejects them at once, so
 * a slow trial cannot pile requests up. Its rejections are cheap `CircuitOpenError`s
 * that say when to retry. Everything else (counting, opening, backoff, half-open
 * sampling, isolation) is cockatiel's own.
 */
export class CircuitBreaker extends CircuitBreakerPolicy {
  readonly name: string
  readonly #outcomes: OutcomeGate
  readonly #openDuration: { ms: number }
  readonly #halfOpenAfterMs: number
  readonly #transitionEmitter = new EventEmitter<CircuitTransition>()
  #openedAt = 0
  #lastState: CircuitStateName = 'closed'
  #lastFailure: unknown
  #pendingReason: string | undefined

  /** Fired once for every change of state, after the change. */
  readonly onTransition = this.#transitionEmitter.addListener

  constructor (options: ResolvedBreakerOptions) {
    const outcomes = new OutcomeGate(new ConsecutiveBreaker(options.threshold))
    const openDuration = { ms: options.halfOpenAfter }
    super(
      {
        breaker: outcomes,
        halfOpenAfter: recordDurations(new ConstantBackoff(options.halfOpenAfter), openDuration),
      },
      new ExecuteWrapper(options.isFailure)
    )

    this.name = options.name
    this.#outcomes = outcomes
    this.#openDuration = openDuration
    this.#halfOpenAfterMs = options.halfOpenAfter
    outcomes.readCircuitState = () => this.state

    this.onBreak((reason) => {
      this.#openedAt = Date.now()
      if ('error' in reason) this.#lastFailure = reason.error
    })
    this.onStateChange((state) => this.#emitTransition(STATE_NAMES[state]))
  }

  /**
   * Runs `fn` through the circuit. Rejects with a `CircuitOpenError` without calling
   * `fn` while the circuit is open, held open, or busy with its half-open trial. (A call
   * that finds the open period over becomes the trial: cockatiel moves to half-open
   * synchronously inside `super.execute`, so the next call already sees it.)
   */
  override execute<T> (
    fn: (context: IDefaultPolicyContext) => PromiseLike<T> | T,
    signal?: AbortSignal
  ): Promise<T> {
    const rejection = this.#admissionError()
    if (rejection !== undefined) return Promise.reject(rejection)

    return super.execute(fn, signal)
  }

  /** Holds the circuit open until every returned handle is disposed. */
  override isolate (): { dispose(): void } {
    this.#pendingReason = 'isolated by hand'
    const handle = super.isolate()
    this.#pendingReason = undefined

    return {
      dispose: () => {
        this.#pendingReason = 'isolation released'
        handle.dispose()
        this.#pendingReason = undefined
      },
    }
  }

  snapshot (): CircuitSnapshot {
    const state = STATE_NAMES[this.state]
    const hasOpened = state === 'open' || state === 'half-open'
    return {
      name: this.name,
      state,
      consecutiveFailures: this.#outcomes.consecutiveFailures,
      openedAt: hasOpened ? this.#openedAt : null,
      nextTrialAt: state === 'open' ? this.#openedAt + this.#openDuration.ms : null,
    }
  }

  #admissionError (): CircuitOpenError | undefined {
    switch (this.state) {
      case CircuitState.Closed:
        return undefined

      case CircuitState.Open: {
        // openedAt is taken just after cockatiel's own, so when this gate lets a call
        // through, cockatiel agrees the circuit may half-open.
        const waitMs = this.#openedAt + this.#openDuration.ms - Date.now()
        if (waitMs <= 0) return undefined
        return withoutStackTrace(() => new CircuitOpenError(this.name, waitMs))
      }

      case CircuitState.HalfOpen:
        // The trial is in flight and decides soon: a second is the earliest retry that
        // could work.
        return withoutStackTrace(() => new CircuitOpenError(this.name, 1000))

      default:
        return withoutStackTrace(() => new CircuitIsolatedError(this.name, this.#halfOpenAfterMs))
    }
  }

  #emitTransition (to: CircuitStateName): void {
    const from = this.#lastState
    this.#lastState = to
    const transition: CircuitTransition = { breaker: this.name, from, to, reason: '' }

    if (this.#pendingReason !== undefined) {
      transition.reason = this.#pendingReason
    } else if (to === 'open') {
      transition.reason = from === 'half-open' ? 'trial call failed' : 'failure threshold reached'
      transition.error = this.#lastFailure
    } else if (to === 'half-open') {
      transition.reason = 'open duration elapsed'
    } else {
      transition.reason = 'trial call succeeded'
    }

    this.#transitionEmitter.emit(transition)
  }
}

/** Wraps a backoff so the open duration cockatiel picks each time is known here too. */
function recordDurations (
  factory: IBackoffFactory<IHalfOpenAfterBackoffContext>,
  record: { ms: number }
): IBackoffFactory<IHalfOpenAfterBackoffContext> {
  return {
    next (context) {
      const backoff = factory.next(context)
      record.ms = backoff.duration
      return { duration: backoff.duration, next: recordDurations(backoff, record).next }
    },
  }
}
