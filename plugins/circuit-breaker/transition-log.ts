import type { FastifyBaseLogger } from 'fastify'
import type { IDisposable } from 'cockatiel'

import type { CircuitBreaker, CircuitTransition } from './breaker.ts'

const MESSAGES = {
  open: 'circuit opened',
  'half-open': 'circuit half-open',
  closed: 'circuit closed',
  isolated: 'circuit isolated',
} as const

/**
 * Logs each transition of `breaker` once, on a child logger bound to its name. An
 * opening is a warning an operator may be paged for; the rest is information.
 */
export function logTransitions (breaker: CircuitBreaker, log: FastifyBaseLogger): IDisposable {
  const breakerLog = log.child({ breaker: breaker.name })

  return breaker.onTransition((transition: CircuitTransition) => {
    const fields: Record<string, unknown> = {
      from: transition.from,
      to: transition.to,
      reason: transition.reason,
    }
    if (transition.error !== undefined) fields.err = transition.error

    if (transition.to === 'open' || transition.to === 'isolated') {
      breakerLog.warn(fields, MESSAGES[transition.to])
    } else {
      breakerLog.info(fields, MESSAGES[transition.to])
    }
  })
}
