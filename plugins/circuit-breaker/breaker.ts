import {
  CircuitBreakerPolicy,
  CircuitState,
  EventEmitter,
  type IDefaultPolicyContext,
} from 'cockatiel'
// cockatiel builds this wrapper inside its circuitBreaker() factory; a subclass has to
// build it itself. cockatiel 4 has no exports map, so the module is reachable.
import { ExecuteWrapper } from 'cockatiel/dist/common/Executor.js'

import { createDecider, createOpenDurations, recordDurations } from './decider.ts'
import { CircuitIsolatedError, CircuitOpenError, withoutStackTrace } from './errors.ts'
import type { ResolvedBreakerOptions } from './options.ts'
import { OutcomeGate } from './outcome-gate.ts'
import { withTimeout } from './timeout.ts'

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

/** A call admitted now whose outcome is reported later, as a whole request's is. */
export interface PendingCall {
  succeed (): void
  fail (error: unknown): void
  /** The caller went away: no verdict, except that a trial without one must not close. */
  abandon (): void
}

const STATE_NAMES: Record<CircuitState, CircuitStateName> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'isolated',
}

/** How long a half-open trial may run when the breaker has no `timeout`. */
export const TRIAL_DEADLINE_MS = 60_000

function firstOpenPeriodMs (halfOpenAfter: ResolvedBreakerOptions['halfOpenAfter']): number {
  return typeof halfOpenAfter === 'number' ? halfOpenAfter : halfOpenAfter.initial
}

// Outcomes of calls whose caller went away, which the failure rule never sees: an
// abandoned trial is a failure (it must not close the circuit), any other is no verdict.
const abandonedTrial = Symbol('abandoned trial')
const abandonedCall = Symbol('abandoned call')
const noop = (): void => {}

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
  /** The options it was built with, defaults filled in. */
  readonly settings: Readonly<ResolvedBreakerOptions>
  readonly #outcomes: OutcomeGate
  readonly #openDuration: { ms: number }
  readonly #transitionEmitter = new EventEmitter<CircuitTransition>()
  readonly #rejectionEmitter = new EventEmitter<CircuitOpenError>()
  #trialsAdmitted = 0
  #openedAt = 0
  #lastState: CircuitStateName = 'closed'
  #lastFailure: unknown
  #pendingReason: string | undefined
  #resetting = false

  /** Fired once for every change of state, after the change. */
  readonly onTransition = this.#transitionEmitter.addListener
  /** Fired for every call the circuit turned away, with the error it answered. */
  readonly onReject = this.#rejectionEmitter.addListener

  constructor (settings: ResolvedBreakerOptions) {
    const outcomes = new OutcomeGate(() => createDecider(settings.policy))
    const openDuration = { ms: 0 }
    const isFailure = settings.isFailure
    super(
      {
        breaker: outcomes,
        halfOpenAfter: recordDurations(createOpenDurations(settings.halfOpenAfter), openDuration),
        halfOpenSampling: settings.halfOpenSampling,
      },
      new ExecuteWrapper((error) => error === abandonedTrial ||
        (error !== abandonedCall && isFailure(error)))
    )

    this.name = settings.name
    this.settings = settings
    this.#outcomes = outcomes
    this.#openDuration = openDuration
    outcomes.readCircuitState = () => this.state

    this.onBreak((reason) => {
      this.#openedAt = Date.now()
      if ('error' in reason) this.#lastFailure = reason.error
    })
    this.onHalfOpen(() => { this.#trialsAdmitted = 0 })
    this.onStateChange((state) => this.#emitTransition(STATE_NAMES[state]))
  }

  /**
   * Runs `fn` through the circuit. Rejects with a `CircuitOpenError` without calling
   * `fn` while the circuit is open, held open, or busy with its half-open trials. With a
   * `timeout`, `fn`'s signal aborts at the deadline and the call fails with a 504.
   */
  override execute<T> (
    fn: (context: IDefaultPolicyContext) => PromiseLike<T> | T,
    signal?: AbortSignal
  ): Promise<T> {
    const rejection = this.admissionError()
    if (rejection !== undefined) return Promise.reject(this.#rejected(rejection))

    // A trial must end: one that hung would hold the circuit half-open, rejecting every
    // call, for good. Without a timeout of its own, a trial gets a generous one.
    const isTrial = this.state !== CircuitState.Closed
    const timeout = this.settings.timeout ?? (isTrial ? TRIAL_DEADLINE_MS : undefined)
    // That generous deadline is a safety net, not one a caller asked for: its timer must not
    // keep a process whose app closed during a trial alive for a minute.
    const isSafetyNet = this.settings.timeout === undefined
    const call = super.execute(timeout === undefined
      ? fn
      : withTimeout(fn, timeout, this.name, isSafetyNet), signal)
    // cockatiel moved to half-open, or counted this call as a trial, synchronously.
    if (this.state === CircuitState.HalfOpen) this.#trialsAdmitted++
    return call
  }

  /**
   * Admits a call whose outcome is reported later through the returned handle, or
   * returns the rejection the circuit answers with instead.
   */
  begin (): PendingCall | CircuitOpenError {
    const rejection = this.admissionError()
    if (rejection !== undefined) return this.#rejected(rejection)

    const outcome = Promise.withResolvers<void>()
    this.execute(() => outcome.promise).catch(noop)
    const wasTrial = this.state === CircuitState.HalfOpen
    return {
      succeed: () => outcome.resolve(),
      fail: (error) => outcome.reject(error),
      abandon: () => outcome.reject(wasTrial ? abandonedTrial : abandonedCall),
    }
  }

  /** The rejection a call would get now, or `undefined` if it would be let through. */
  admissionError (): CircuitOpenError | undefined {
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
        if (this.#trialsAdmitted < this.settings.halfOpenSampling.calls) return undefined
        // The trials decide soon: a second is the earliest retry that could work.
        return withoutStackTrace(() => new CircuitOpenError(this.name, 1000))

      default:
        // Held open by hand has no known end: the first open period is the hint.
        return withoutStackTrace(() => new CircuitIsolatedError(this.name, firstOpenPeriodMs(
          this.settings.halfOpenAfter)))
    }
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

  /**
   * Closes the circuit and forgets every outcome, as if the breaker were new. A circuit
   * held open by `isolate()` stays held: release it first.
   */
  reset (): void {
    const from = this.#lastState
    if (from === 'isolated') return

    this.#outcomes.reset()
    if (from === 'closed') return

    // cockatiel has no reset; an isolation released at once closes the circuit from any
    // state. Its passing through "isolated" is not a transition anyone should see.
    this.#resetting = true
    super.isolate().dispose()
    this.#resetting = false
    this.#lastState = 'closed'
    const reason = 'reset by hand'
    this.#transitionEmitter.emit({ breaker: this.name, from, to: 'closed', reason })
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

  #rejected (error: CircuitOpenError): CircuitOpenError {
    this.#rejectionEmitter.emit(error)
    return error
  }

  #emitTransition (to: CircuitStateName): void {
    if (this.#resetting) return

    const from = this.#lastState
    this.#lastState = to
    const transition: CircuitTransition = { breaker: this.name, from, to, reason: '' }

    if (this.#pendingReason !== undefined) {
      transition.reason = this.#pendingReason
    } else if (to === 'open' && this.#lastFailure === abandonedTrial) {
      transition.reason = 'trial call abandoned by its caller'
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
