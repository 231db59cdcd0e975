import sensible from '@fastify/sensible'
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyServerOptions,
} from 'fastify'

import type { Config } from './config.ts'
import { simulatedDependency } from './dependencies/simulated.ts'
import { Upstream } from './dependencies/upstream.ts'
import apiDocs from './plugins/api-docs.ts'
import circuitBreaker from './plugins/circuit-breaker/index.ts'
import errorReplies from './plugins/error-replies.ts'
import eventHistory from './plugins/event-history.ts'
import gracefulClose from './plugins/graceful-close.ts'
import metrics from './plugins/metrics.ts'
import circuitBreakerRoute from './routes/circuitbreaker.ts'
import circuitBreakersRoute from './routes/circuitbreakers.ts'
import eventsRoute from './routes/events.ts'
import manualControlRoute from './routes/manual-control.ts'
import rootRoute from './routes/root.ts'
import unstableRoute, { type Dependency } from './routes/unstable.ts'

const PLAIN_TEXT = 'text/plain; charset=utf-8'

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
  const app = Fastify({
    logger: options.logger ?? { level: config.LOG_LEVEL },
    // Per-key breaker names carry a host and port; the manual-control route takes them.
    routerOptions: { maxParamLength: 500 },
    // Requests Fastify refuses before routing (a malformed URL, say) answer in the
    // service's own `{ error }` shape too.
    frameworkErrors: (error: FastifyError, _request: unknown, reply: FastifyReply) => {
      // Every error Fastify hands here carries its status (400, 414, 415 ...).
      reply.code(error.statusCode!).send({ error: error.message })
    },
  })

  // First: the API docs list only the routes registered after them.
  await app.register(apiDocs)

  await app.register(sensible)
  await app.register(errorReplies)
  await app.register(gracefulClose)
  await app.register(circuitBreaker, {
    threshold: config.FAIL_MAX,
    halfOpenAfter: config.RESET_TIMEOUT * 1000,
  })
  await app.register(eventHistory, { size: config.EVENT_HISTORY_SIZE })
  await app.register(metrics)

  await app.register(rootRoute)
  await app.register(unstableRoute, { dependency: chooseDependency(app, options) })
  await app.register(circuitBreakerRoute)
  await app.register(circuitBreakersRoute)
  await app.register(eventsRoute)
  await app.register(manualControlRoute, { adminToken: config.ADMIN_TOKEN })

  return app
}

/** The upstream service when `UPSTREAM_URL` is set, else the simulated dependency. */
function chooseDependency (app: FastifyInstance, options: AppOptions): Dependency {
  const { config } = options

  if (config.UPSTREAM_URL === undefined) {
    const simulated = simulatedDependency(config.FAILURE_RATE, options.random)
    return async () => ({ status: 200, contentType: PLAIN_TEXT, body: await simulated() })
  }

  const upstream = new Upstream(config.UPSTREAM_URL, config.UPSTREAM_TIMEOUT_MS)
  app.addHook('onClose', () => upstream.close())
  return (signal) => upstream.get(signal)
}
