import type { FastifyInstance } from 'fastify'

export interface UnstableRouteOptions {
  /** The unreliable dependency; it resolves with the text to answer or throws. */
  dependency: () => Promise<string>
}

/**
 * Calls the dependency through the circuit breaker. Failures and open-circuit rejections
 * are turned into JSON replies by the service's error handler.
 */
export default async function unstableRoute (
  app: FastifyInstance,
  options: UnstableRouteOptions
): Promise<void> {
  const { dependency } = options

  app.get('/unstable', async (_request, reply) => {
    const text = await app.circuitBreaker.execute(() => dependency())
    return reply.type('text/plain; charset=utf-8').send(text)
  })
}
