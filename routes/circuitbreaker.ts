import type { FastifyInstance } from 'fastify'

const statusSchema = {
  type: 'object',
  required: ['name', 'state', 'failure_count', 'opened_at', 'next_trial_at'],
  properties: {
    name: { type: 'string' },
    state: { type: 'string', enum: ['closed', 'open', 'half-open', 'isolated'] },
    failure_count: { type: 'integer', description: 'Consecutive failures' },
    opened_at: { type: ['string', 'null'], format: 'date-time' },
    next_trial_at: { type: ['string', 'null'], format: 'date-time' },
  },
} as const

/** The breaker's state and consecutive failure count, for people and probes. */
export default async function circuitBreakerRoute (app: FastifyInstance): Promise<void> {
  app.get('/circuitbreaker', {
    schema: { response: { 200: statusSchema } },
  }, async () => {
    const snapshot = app.circuitBreaker.snapshot()
    return {
      name: snapshot.name,
      state: snapshot.state,
      failure_count: snapshot.consecutiveFailures,
      opened_at: isoTime(snapshot.openedAt),
      next_trial_at: isoTime(snapshot.nextTrialAt),
    }
  })
}

function isoTime (epochMs: number | null): string | null {
  return epochMs === null ? null : new Date(epochMs).toISOString()
}
