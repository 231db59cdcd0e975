import type { FastifyInstance } from 'fastify'

import { breakerStatus, breakerStatusSchema } from './breaker-status.ts'

const listSchema = {
  type: 'object',
  description: 'Every breaker alive',
  required: ['breakers'],
  properties: {
    breakers: {
      type: 'array',
      items: {
        ...breakerStatusSchema,
        required: [...breakerStatusSchema.required, 'kind', 'options'],
        properties: {
          ...breakerStatusSchema.properties,
          kind: {
            type: 'string',
            enum: ['consecutive', 'sampling', 'count'],
            description: 'The policy that opens the circuit',
          },
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

const routeSchema = {
  summary: 'Every breaker, with its options',
  description: 'Every breaker of the app, per-key ones included, each with the fields of ' +
    '`GET /circuitbreaker` plus its policy kind and the options that drive it.',
  tags: ['circuit breakers'],
  response: { 200: listSchema },
} as const

/** Every breaker of the app, per-key ones included, with the options that drive it. */
export default async function circuitBreakersRoute (app: FastifyInstance): Promise<void> {
  app.get('/circuitbreakers', { schema: routeSchema }, async () => {
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
