import type { FastifyInstance } from 'fastify'

import { breakerStatus, breakerStatusSchema } from './breaker-status.ts'

/** The default breaker's state and consecutive failure count, for people and probes. */
export default async function circuitBreakerRoute (app: FastifyInstance): Promise<void> {
  app.get('/circuitbreaker', {
    schema: { response: { 200: breakerStatusSchema } },
  }, async () => breakerStatus(app.circuitBreaker))
}
