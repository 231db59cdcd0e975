import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'

import { isCircuitOpenError } from './circuit-breaker/index.ts'

const OPEN_CIRCUIT_BODY = { error: 'Circuit breaker is open!' } as const

/**
 * The JSON body of every error reply, for the routes' response schemas: a route that
 * declares it for a status keeps the `{ error }` body when Fastify serializes the reply.
 */
export const errorReplySchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: { type: 'string', description: 'What went wrong, without internal detail' },
  },
} as const

/**
 * The service's error replies: a JSON `{ error }` body for every failure, never a stack.
 *
 * During an outage every request is rejected by the breaker; Fastify would log each one
 * at error level with a stack, so those are logged briefly at info instead. Real
 * failures keep their detail.
 */
async function errorReplies (app: FastifyInstance): Promise<void> {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (isCircuitOpenError(error)) {
      request.log.info({ breaker: error.breaker, retryAfter: error.retryAfterSeconds },
        'rejected: circuit open')
      return reply.code(503).headers(error.headers).send(OPEN_CIRCUIT_BODY)
    }

    // A dependency may throw anything, `undefined` and `null` included. Reading a field of
    // those threw here, and Fastify's fallback reply went out with the TypeError's message.
    const thrown: Partial<FastifyError> = error ?? {}
    const status = thrown.statusCode !== undefined && thrown.statusCode >= 400
      ? thrown.statusCode
      : 500
    if (status >= 500) {
      request.log.error({ err: error }, 'request failed')
    } else {
      request.log.info({ reason: thrown.message, code: thrown.code }, 'request refused')
    }

    const exposed = status < 500 || (thrown as { expose?: boolean }).expose === true
    return reply.code(status).send({ error: exposed ? thrown.message : 'Internal Server Error' })
  })

  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
    return reply.code(404).send({ error: `Route ${request.method} ${request.url} not found` })
  })
}

export default fp(errorReplies, { name: 'error-replies' })
