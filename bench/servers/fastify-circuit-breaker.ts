import { createRequire } from 'node:module'

import type { FastifyInstance, FastifyPluginCallback, preHandlerAsyncHookHandler } from 'fastify'

interface Options {
  threshold: number
  resetTimeout: number
}

// Loaded without its declarations: they merge a `circuitBreaker` method into
// FastifyInstance, which clashes with this plugin's `circuitBreaker` property in the one
// program that tsc checks.
const require = createRequire(import.meta.url)
const plugin = require('@fastify/circuit-breaker') as FastifyPluginCallback<Options>

/** Registers @fastify/circuit-breaker and returns the preHandler that guards one route. */
export async function fastifyCircuitBreaker (
  app: FastifyInstance,
  options: Options
): Promise<preHandlerAsyncHookHandler> {
  await app.register(plugin, options)
  const decorated = app as unknown as { circuitBreaker: () => preHandlerAsyncHookHandler }
  return decorated.circuitBreaker()
}
