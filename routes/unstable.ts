import type { FastifyInstance } from 'fastify'

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

  app.get('/unstable', async (_request, reply) => {
    const answer = await app.circuitBreaker.execute(({ signal }) => dependency(signal))

    if (answer.contentType !== undefined) reply.type(answer.contentType)
    return reply.code(answer.status).send(answer.body)
  })
}
