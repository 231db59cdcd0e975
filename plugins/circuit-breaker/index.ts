import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'

import { CircuitBreaker } from './breaker.ts'
import { resolveBreakerOptions, type BreakerOptions } from './options.ts'
import { logTransitions } from './transition-log.ts'

export type CircuitBreakerPluginOptions = BreakerOptions

declare module 'fastify' {
  interface FastifyInstance {
    /** The app's circuit breaker: call a dependency with `execute(fn)`. */
    circuitBreaker: CircuitBreaker
  }
}

const plugin: FastifyPluginAsync<CircuitBreakerPluginOptions> = async (app, options) => {
  const breaker = new CircuitBreaker(resolveBreakerOptions(options))
  const transitionLog = logTransitions(breaker, app.log)

  app.decorate('circuitBreaker', breaker)

  app.addHook('onClose', async () => {
    transitionLog.dispose()
  })
}

/** Registers a circuit breaker as `app.circuitBreaker`. */
const circuitBreaker = fp(plugin, { name: 'fastify-breaker', fastify: '5.x' })

export default circuitBreaker
export { circuitBreaker }
export { CircuitBreaker } from './breaker.ts'
export type { CircuitSnapshot, CircuitStateName, CircuitTransition } from './breaker.ts'
export {
  CircuitIsolatedError,
  CircuitOpenError,
  ErrorCodes,
  InvalidOptionError,
  isCircuitOpenError,
} from './errors.ts'
export type { BreakerOptions } from './options.ts'
