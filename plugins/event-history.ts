import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

import type { CircuitBreaker, CircuitStateName } from './circuit-breaker/index.ts'

/** A transition of a breaker, or an action an operator took on it. */
export interface BreakerEvent {
  time: string
  breaker: string
  type: 'transition' | 'action'
  from: CircuitStateName
  to: CircuitStateName
  reason: string
}

/**
 * The latest breaker events, newest last, in a ring of fixed size: the oldest is
 * overwritten, so memory stays flat however long the service runs.
 */
export class EventHistory {
  readonly #ring: Array<BreakerEvent | undefined>
  #next = 0

  constructor (size: number) {
    this.#ring = new Array<BreakerEvent | undefined>(size)
  }

  add (event: Omit<BreakerEvent, 'time'>): void {
    this.#ring[this.#next] = { time: new Date().toISOString(), ...event }
    this.#next = (this.#next + 1) % this.#ring.length
  }

  /** Up to `limit` events, newest first, of one breaker when `breaker` is given. */
  recent (limit: number, breaker?: string): BreakerEvent[] {
    const found: BreakerEvent[] = []
    for (let back = 1; back <= this.#ring.length && found.length < limit; back++) {
      const event = this.#ring[(this.#next - back + this.#ring.length) % this.#ring.length]
      if (event === undefined) break
      if (breaker === undefined || event.breaker === breaker) found.push(event)
    }
    return found
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Recent transitions and manual actions of every breaker. */
    breakerEvents: EventHistory
  }
}

/** Records every breaker's transitions, per-key breakers made later included. */
async function eventHistory (app: FastifyInstance, options: { size: number }): Promise<void> {
  const history = new EventHistory(options.size)

  app.circuitBreakers.onCreate((breaker: CircuitBreaker) =>
    breaker.onTransition(({ breaker: name, from, to, reason }) => {
      history.add({ breaker: name, type: 'transition', from, to, reason })
    }))
  app.decorate('breakerEvents', history)
}

export default fp(eventHistory, {
  name: 'event-history',
  dependencies: ['fastify-breaker'],
})
