import type { FastifyInstance } from 'fastify'

import { breakerStatus, breakerStatusSchema } from './breaker-status.ts'

const statusSchema = {
  summary: 'The default breaker\'s state',
  description: 'The state and consecutive failure count of the breaker that guards ' +
    '`GET /unstable`. The circuit moves from open to half-open when a call arrives after ' +
    '`next_trial_at`, not on a timer.',
  tags: ['circuit breakers'],
  response: {
    200: { ...breakerStatusSchema, description: 'The default breaker\'s status' },
  },
} as const

/** The default breaker's state and consecutive failure count, for people and probes. */
export default async function circuitBreakerRoute (app: FastifyInstance): Promise<void> {
  app.get('/circuitbreaker', { schema: statusSchema },
    async () => breakerStatus(app.circuitBreaker))
}
