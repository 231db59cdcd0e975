import type { FastifyInstance } from 'fastify'

export default async function rootRoute (app: FastifyInstance): Promise<void> {
  app.get('/', {
    schema: {
      response: { 200: { type: 'string' } },
    },
  }, async (_request, reply) => {
    return reply.type('text/plain; charset=utf-8').send('Welcome to the microservice!')
  })
}
