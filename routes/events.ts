import type { FastifyInstance } from 'fastify'

const eventSchema = {
  type: 'object',
  required: ['time', 'breaker', 'type', 'from', 'to', 'reason'],
  properties: {
    time: { type: 'string', format: 'date-time' },
    breaker: { type: 'string' },
    type: { type: 'string', enum: ['transition', 'action'] },
    from: { type: 'string' },
    to: { type: 'string' },
    reason: { type: 'string' },
  },
} as const

const schema = {
  summary: 'Recent transitions and manual actions, newest first',
  tags: ['circuit breakers'],
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: {
      breaker: { type: 'string', minLength: 1, maxLength: 400 },
      limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
    },
  },
  response: {
    200: {
      type: 'object',
      required: ['events'],
      properties: { events: { type: 'array', items: eventSchema } },
    },
  },
} as const

export default async function eventsRoute (app: FastifyInstance): Promise<void> {
  app.get<{ Querystring: { breaker?: string, limit: number } }>('/circuitbreakers/events', {
    schema,
  }, async (request) => {
    const { breaker, limit } = request.query
    return { events: app.breakerEvents.recent(limit, breaker) }
  })
}
