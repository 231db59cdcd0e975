import sensible from '@fastify/sensible'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'

import type { Config } from './config.ts'
import { simulatedDependency } from './dependencies/simulated.ts'
import circuitBreaker from './plugins/circuit-breaker/index.ts'
import errorReplies from './plugins/error-replies.ts'
import circuitBreakerRoute from './routes/circuitbreaker.ts'
import rootRoute from './routes/root.ts'
import unstableRoute from './routes/unstable.ts'

export interface AppOptions {
  config: Config
  /** Pino options or `false`; defaults to JSON lines at `config.LOG_LEVEL`. */
  logger?: FastifyServerOptions['logger']
  /** Source of chance for the simulated dependency (tests script it). */
  random?: () => number
}

/** Builds the service without listening, so tests can inject requests into it. */
export async function buildApp (options: AppOptions): Promise<FastifyInstance> {
  const { config } = options
  const app = Fastify({ logger: options.logger ?? { level: config.LOG_LEVEL } })

  await app.register(sensible)
  await app.register(errorReplies)
  await app.register(circuitBreaker, {
    threshold: config.FAIL_MAX,
    halfOpenAfter: config.RESET_TIMEOUT * 1000,
  })

  await app.register(rootRoute)
  await app.register(unstableRoute, {
    dependency: simulatedDependency(config.FAILURE_RATE, options.random),
  })
  await app.register(circuitBreakerRoute)

  return app
}
