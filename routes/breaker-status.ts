import type { CircuitBreaker, CircuitStateName } from '../plugins/circuit-breaker/index.ts'

/** The JSON shape of one breaker's status, as both status routes answer it. */
export const breakerStatusSchema = {
  type: 'object',
  required: ['name', 'state', 'failure_count', 'opened_at', 'next_trial_at'],
  properties: {
    name: { type: 'string', description: 'The breaker\'s name' },
    state: {
      type: 'string',
      enum: ['closed', 'open', 'half-open', 'isolated'],
      description: 'half-open: a trial call is in flight; isolated: held open by hand',
    },
    failure_count: {
      type: 'integer',
      description: 'Consecutive failures; a success or a closing trial resets it',
    },
    opened_at: {
      type: ['string', 'null'],
      format: 'date-time',
      description: 'When the circuit last opened, while it is open or half-open',
    },
    next_trial_at: {
      type: ['string', 'null'],
      format: 'date-time',
      description: 'When the next call will be admitted as a trial, while it is open',
    },
  },
} as const

export interface BreakerStatus {
  name: string
  state: CircuitStateName
  failure_count: number
  opened_at: string | null
  next_trial_at: string | null
}

export function breakerStatus (breaker: CircuitBreaker): BreakerStatus {
  const snapshot = breaker.snapshot()
  return {
    name: snapshot.name,
    state: snapshot.state,
    failure_count: snapshot.consecutiveFailures,
    opened_at: isoTime(snapshot.openedAt),
    next_trial_at: isoTime(snapshot.nextTrialAt),
  }
}

function isoTime (epochMs: number | null): string | null {
  return epochMs === null ? null : new Date(epochMs).toISOString()
}
