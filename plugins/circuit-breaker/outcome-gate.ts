import type { CircuitState, IBreaker } from 'cockatiel'

/**
 * Sits between cockatiel's policy and the breaker that decides when to open.
 *
 * cockatiel reports an outcome with the state the call started in. A call that began
 * while closed and ends after the circuit opened would otherwise reset the failure
 * count (success) or reopen the circuit in the middle of a half-open trial (failure),
 * so such stale outcomes are dropped here. It also keeps the consecutive failure count
 * that status snapshots show, whatever kind of breaker decides.
 */
export class OutcomeGate implements IBreaker {
  consecutiveFailures = 0
  /** Set by the owning policy, which exists only after this gate does. */
  readCircuitState!: () => CircuitState
  readonly #createBreaker: () => IBreaker
  #breaker: IBreaker

  constructor (createBreaker: () => IBreaker) {
    this.#createBreaker = createBreaker
    this.#breaker = createBreaker()
  }

  /** The deciding breaker's state, which cockatiel's `toJSON()` saves. */
  get state (): unknown {
    return this.#breaker.state
  }

  success (startedIn: CircuitState): void {
    if (startedIn !== this.readCircuitState()) return

    this.consecutiveFailures = 0
    this.#breaker.success(startedIn)
  }

  failure (startedIn: CircuitState): boolean {
    if (startedIn !== this.readCircuitState()) return false

    this.consecutiveFailures++
    return this.#breaker.failure(startedIn)
  }

  /** Forgets every outcome seen, as a newly built breaker would. */
  reset (): void {
    this.#breaker = this.#createBreaker()
    this.consecutiveFailures = 0
  }
}
