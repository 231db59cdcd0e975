import type { FastifyBaseLogger } from 'fastify'
import type { IDisposable } from 'cockatiel'

import { CircuitBreaker } from './breaker.ts'
import { UnknownBreakerError } from './errors.ts'
import { KeyedBreakers, type KeyedLimits } from './keyed.ts'
import type { ResolvedBreakerOptions } from './options.ts'
import { logTransitions } from './transition-log.ts'

/**
 * Every breaker of an app, by name: `app.circuitBreakers.get('payments')`. Each one
 * logs its transitions; `close()` stops that when the app closes.
 */
export class BreakerRegistry {
  readonly #named = new Map<string, CircuitBreaker>()
  readonly #keyed = new Map<string, KeyedBreakers>()
  readonly #logging = new Map<CircuitBreaker, IDisposable>()
  readonly #log: FastifyBaseLogger
  readonly #onCreate: Array<(breaker: CircuitBreaker) => void> = []

  constructor (log: FastifyBaseLogger) {
    this.#log = log
  }

  /** The breaker registered under `name`; throws `UnknownBreakerError` for any other. */
  get (name: string): CircuitBreaker {
    const breaker = this.#named.get(name)
    if (breaker === undefined) throw new UnknownBreakerError(name, this.#named.keys())
    return breaker
  }

  has (name: string): boolean {
    return this.#named.has(name)
  }

  /** The per-key breakers made from the template registered under `name`. */
  keyed (name: string): KeyedBreakers {
    const keyed = this.#keyed.get(name)
    if (keyed === undefined) throw new UnknownBreakerError(name, this.#keyed.keys())
    return keyed
  }

  /** Every breaker alive now: the named ones, then each template's per-key ones. */
  * [Symbol.iterator] (): IterableIterator<CircuitBreaker> {
    yield * this.#named.values()
    for (const keyed of this.#keyed.values()) yield * keyed.breakers()
  }

  /** Calls `listener` for each breaker made from now on, per-key ones included. */
  onCreate (listener: (breaker: CircuitBreaker) => void): void {
    this.#onCreate.push(listener)
  }

  add (settings: ResolvedBreakerOptions): CircuitBreaker {
    const breaker = this.#make(settings)
    this.#named.set(settings.name, breaker)
    return breaker
  }

  addKeyed (template: ResolvedBreakerOptions, limits: KeyedLimits): KeyedBreakers {
    const keyed = new KeyedBreakers(template.name, limits,
      (key) => this.#make({ ...template, name: `${template.name}:${key}` }),
      (breaker) => this.#forget(breaker))
    this.#keyed.set(template.name, keyed)
    return keyed
  }

  close (): void {
    for (const keyed of this.#keyed.values()) keyed.clear()
    for (const breaker of this.#named.values()) this.#forget(breaker)
  }

  #make (settings: ResolvedBreakerOptions): CircuitBreaker {
    const breaker = new CircuitBreaker(settings)
    this.#logging.set(breaker, logTransitions(breaker, this.#log))
    for (const listener of this.#onCreate) listener(breaker)
    return breaker
  }

  #forget (breaker: CircuitBreaker): void {
    this.#logging.get(breaker)?.dispose()
    this.#logging.delete(breaker)
  }
}
