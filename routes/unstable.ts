import type { FastifyInstance, FastifySchema } from 'fastify'

import { errorReplySchema } from '../plugins/error-replies.ts'

/** What the route relays to the client: the dependency's status, content type and body. */
export interface DependencyAnswer {
  status: number
  /** Left to Fastify's default for the body when `undefined`. */
  contentType: string | undefined
  body: string | Buffer
}

/** The unreliable dependency: resolves with the answer to relay, or throws. */
export type Dependency = (signal: AbortSignal) => Promise<DependencyAnswer>

export interface UnstableRouteOptions {
  dependency: Dependency
}

// Typed as a plain FastifySchema: inferred from its literal, it would restrict
// `reply.code()` to the statuses listed, and an upstream's status is relayed as it came.
const unstableSchema: FastifySchema = {
  summary: 'Call the unreliable dependency through the circuit breaker',
  description: 'Calls the simulated dependency, or the upstream at `UPSTREAM_URL` when it ' +
    'is set. Failures count towards opening the circuit; while it is open, calls are ' +
    'answered 503 at once without reaching the dependency. In upstream mode, answers ' +
    'from 200 to 499 are relayed as they came: status, content type and body.',
  tags: ['service'],
  response: {
    200: {
      description: 'The dependency answered: `Success!` from the simulation',
      content: { 'text/plain': { schema: { type: 'string' } } },
    },
    500: {
      ...errorReplySchema,
      description: 'The simulated dependency failed, or the service did',
    },
    502: {
      ...errorReplySchema,
      description: 'The upstream answered a 5xx, or its connection failed',
    },
    503: {
      ...errorReplySchema,
      description: 'The circuit is open: the dependency was not called',
      headers: {
        'Retry-After': {
          type: 'integer',
          minimum: 1,
          description: 'Whole seconds until a trial call will be admitted',
        },
      },
    },
    504: {
      ...errorReplySchema,
      description: 'The upstream did not answer within `UPSTREAM_TIMEOUT_MS`',
    },
  },
}

/**
 * Calls the dependency through the circuit breaker, which may abort it through `signal`.
 * Failures and open-circuit rejections are turned into JSON replies by the service's
 * error handler.
 */
export default async function unstableRoute (
  app: FastifyInstance,
  options: UnstableRouteOptions
): Promise<void> {
  const { dependency } = options

  app.get('/unstable', { schema: unstableSchema }, async (request, reply) => {
    // request.signal aborts when the client goes away: the upstream call stops with it.
    const answer = await app.circuitBreaker.execute(({ signal }) => dependency(signal),
      request.signal)

    if (answer.contentType !== undefined) reply.type(answer.contentType)
    return reply.code(answer.status).send(answer.body)
  })
}
