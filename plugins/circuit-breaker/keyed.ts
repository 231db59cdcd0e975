import type { CircuitBreaker } from './breaker.ts'
import { InvalidKeyError } from './errors.ts'

export interface KeyedLimits {
  /** Breakers kept at most; the least recently used one makes room for a new key. */
  maxKeys: number
  /** Milliseconds after which an unused breaker is dropped. */
  idleAfter: number
}

interface Entry {
  breaker: CircuitBreaker
  lastUsedAt: number
}

/**
 * Breakers made on demand, one per key (an upstream host, a tenant), from one template.
 * Memory stays bounded: at most `maxKeys` are kept, and idle ones are dropped when the
 * next key is asked for. A dropped breaker forgets its state, as a new key starts closed.
 */
export class KeyedBreakers {
  readonly name: string
  readonly limits: Readonly<KeyedLimits>
  // A Map iterates in insertion order; re-inserting on use keeps the least recently
  // used entry first.
  readonly #entries = new Map<string, Entry>()
  readonly #create: (key: string) => CircuitBreaker
  readonly #release: (breaker: CircuitBreaker) => void

  constructor (
    name: string,
    limits: KeyedLimits,
    create: (key: string) => CircuitBreaker,
    release: (breaker: CircuitBreaker) => void
  ) {
    this.name = name
    this.limits = limits
    this.#create = create
    this.#release = release
  }

  /** The breaker for `key`, made now if there is none. */
  get (key: string): CircuitBreaker {
    if (typeof key !== 'string' || key.length === 0 || key.length > 256) {
      throw new InvalidKeyError(key)
    }

    const now = Date.now()
    // Dropped before the lookup: an idle key asked for again must start afresh, as any
    // dropped one does, not keep its state because no other new key came in between.
    this.#dropIdle(now)
    const entry = this.#entries.get(key)
    if (entry !== undefined) {
      this.#entries.delete(key)
      this.#entries.set(key, entry)
      entry.lastUsedAt = now
      return entry.breaker
    }

    if (this.#entries.size >= this.limits.maxKeys) this.#dropOldest()

    const breaker = this.#create(key)
    this.#entries.set(key, { breaker, lastUsedAt: now })
    return breaker
  }

  get size (): number {
    return this.#entries.size
  }

  * breakers (): IterableIterator<CircuitBreaker> {
    for (const entry of this.#entries.values()) yield entry.breaker
  }

  clear (): void {
    for (const entry of this.#entries.values()) this.#release(entry.breaker)
    this.#entries.clear()
  }

  #dropIdle (now: number): void {
    for (const [key, entry] of this.#entries) {
      if (now - entry.lastUsedAt < this.limits.idleAfter) return
      this.#entries.delete(key)
      this.#release(entry.breaker)
    }
  }

  #dropOldest (): void {
    const [key, entry] = this.#entries.entries().next().value as [string, Entry]
    this.#entries.delete(key)
    this.#release(entry.breaker)
  }
}
