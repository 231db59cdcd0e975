import type { FastifyInstance } from 'fastify'

import { breakerStatus, breakerStatusSchema } from './breaker-status.ts'

const listSchema = {
  type: 'object',
  required: ['breakers'],
  properties: {
    breakers: {
      type: 'array',
      items: {
        ...breakerStatusSchema,
        required: [...breakerStatusSchema.required, 'kind', 'options'],
        properties: {
          ...breakerStatusSchema.properties,
          kind: { type: 'string', enum: ['consecutive', 'sampling', 'count'] },
          options: {
            type: 'object',
            description: 'What decides its state, as registered, defaults filled in',
            additionalProperties: true,
          },
        },
      },
    },
  },
} as const

/** Every breaker of the app, per-key ones included, with the options that drive it. */
export default async function circuitBreakersRoute (app: FastifyInstance): Promise<void> {
  app.get('/circuitbreakers', {
    schema: { response: { 200: listSchema } },
  }, async () => {
    const breakers = []
    for (const breaker of app.circuitBreakers) {
      const { policy, halfOpenAfter, halfOpenSampling, timeout } = breaker.settings
      breakers.push({
        ...breakerStatus(breaker),
        kind: policy.kind,
        options: { policy, halfOpenAfter, halfOpenSampling, timeout: timeout ?? null },
      })
    }
    return { breakers }
  })
}
