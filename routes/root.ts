import type { FastifyInstance } from 'fastify'

const WELCOME = 'Welcome to the microservice!'

const rootSchema = {
  summary: 'Welcome',
  description: 'A greeting in plain text: the service is up and answering.',
  tags: ['service'],
  response: {
    200: {
      description: 'The greeting',
      content: { 'text/plain': { schema: { type: 'string', const: WELCOME } } },
    },
  },
} as const

export default async function rootRoute (app: FastifyInstance): Promise<void> {
  app.get('/', { schema: rootSchema }, async (_request, reply) => {
    return reply.type('text/plain; charset=utf-8').send(WELCOME)
  })
}
