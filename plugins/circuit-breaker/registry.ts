import type { FastifyBaseLogger } from 'fastify'
import type { IDisposable } from 'cockatiel'

import { CircuitBreaker } from './breaker.ts'
import { UnknownBreakerError } from './errors.ts'
import { KeyedBreakers, type KeyedLimits } from './keyed.ts'
import type { ResolvedBreakerOptions } from './options.ts'
import { logTransitions } from './transition-log.ts'

/** Called for each breaker; what it returns is disposed when the breaker is dropped. */
export type BreakerListener = (breaker: CircuitBreaker) => IDisposable | undefined

/**
 * Every breaker of an app, by name: `app.circuitBreakers.get('payments')`. Each one
 * logs its transitions. Subscriptions made through `onCreate` end with their breaker,
 * so per-key breakers that come and go leave nothing behind.
 */
export class BreakerRegistry {
  readonly #named = new Map<string, CircuitBreaker>()
  readonly #keyed = new Map<string, KeyedBreakers>()
  readonly #subscriptions = new Map<CircuitBreaker, IDisposable[]>()
  readonly #log: FastifyBaseLogger
  readonly #onCreate: BreakerListener[] = []

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

  /**
   * Calls `listener` for every breaker alive now and each one made later, per-key ones
   * included. The disposable it returns is disposed when that breaker is dropped.
   */
  onCreate (listener: BreakerListener): void {
    this.#onCreate.push(listener)
    for (const breaker of this) this.#subscribe(breaker, listener)
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
    this.#subscriptions.set(breaker, [logTransitions(breaker, this.#log)])
    for (const listener of this.#onCreate) this.#subscribe(breaker, listener)
    return breaker
  }

  #subscribe (breaker: CircuitBreaker, listener: BreakerListener): void {
    const subscription = listener(breaker)
    if (subscription !== undefined) this.#subscriptions.get(breaker)?.push(subscription)
  }

  #forget (breaker: CircuitBreaker): void {
    for (const subscription of this.#subscriptions.get(breaker) ?? []) subscription.dispose()
    this.#subscriptions.delete(breaker)
  }
}
