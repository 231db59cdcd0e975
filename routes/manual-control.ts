import bearerAuth from '@fastify/bearer-auth'
import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
} from 'fastify'

import type { CircuitBreaker } from '../plugins/circuit-breaker/index.ts'
import { errorReplySchema } from '../plugins/error-replies.ts'
import { breakerStatus, breakerStatusSchema } from './breaker-status.ts'

export interface ManualControlOptions {
  /** The bearer token operators must present; without one, manual control is off. */
  adminToken: string | undefined
}

type Action = 'isolate' | 'release' | 'reset'

const schema = {
  summary: 'Isolate, release or reset a breaker by hand',
  tags: ['circuit breakers'],
  security: [{ bearerAuth: [] }],
  params: {
    type: 'object',
    required: ['name'],
    properties: { name: { type: 'string', minLength: 1, maxLength: 400 } },
  },
  body: {
    type: 'object',
    required: ['action'],
    additionalProperties: false,
    properties: {
      action: {
        type: 'string',
        enum: ['isolate', 'release', 'reset'],
        description: 'isolate: hold open until released; release: end it; reset: close and ' +
          'clear the counts',
      },
    },
  },
  response: {
    200: breakerStatusSchema,
    400: errorReplySchema,
    401: errorReplySchema,
    403: errorReplySchema,
    404: errorReplySchema,
    409: errorReplySchema,
  },
} as const

const REALM = 'Bearer realm="circuit-breakers"'

// The largest valid body, {"action":"isolate"}, is 20 bytes. Fastify's default limit of
// 1 MiB would let a token holder make the service buffer and parse a megabyte per call.
const ACTION_BODY_LIMIT_BYTES = 1024

/**
 * `POST /circuitbreakers/:name` lets an operator steer a breaker. It needs the admin
 * token; with none configured, every call is refused, so control is never open by
 * accident.
 */
export default async function manualControlRoute (
  app: FastifyInstance,
  options: ManualControlOptions
): Promise<void> {
  const isolations = new Map<CircuitBreaker, { dispose(): void }>()
  const authorize = await authorizer(app, options.adminToken)

  app.post<{ Params: { name: string }, Body: { action: Action } }>('/circuitbreakers/:name', {
    schema,
    onRequest: authorize,
    bodyLimit: ACTION_BODY_LIMIT_BYTES,
  }, async (request, reply) => {
    const { name } = request.params
    const { action } = request.body
    const breaker = findBreaker(app, name)
    if (breaker === undefined) {
      return reply.code(404).send({ error: `no circuit breaker is named ${JSON.stringify(name)}` })
    }

    const before = breaker.snapshot().state
    const refusal = perform(action, breaker, isolations)
    if (refusal !== undefined) return reply.code(409).send({ error: refusal })

    request.log.info({ action, breaker: name, client: request.ip }, 'manual circuit breaker action')
    const status = breakerStatus(breaker)
    app.breakerEvents.add({
      breaker: name, type: 'action', from: before, to: status.state, reason: `${action} by hand`,
    })
    return status
  })
}

/** Carries out `action`, or says why it cannot be done in the breaker's state. */
function perform (
  action: Action,
  breaker: CircuitBreaker,
  isolations: Map<CircuitBreaker, { dispose(): void }>
): string | undefined {
  const held = isolations.get(breaker)
  switch (action) {
    case 'isolate':
      if (held === undefined) isolations.set(breaker, breaker.isolate())
      return undefined

    case 'release':
      if (held === undefined) return `circuit breaker "${breaker.name}" is not isolated by hand`
      isolations.delete(breaker)
      held.dispose()
      return undefined

    case 'reset':
      if (held !== undefined) {
        return `circuit breaker "${breaker.name}" is isolated: release it first`
      }
      breaker.reset()
      return undefined
  }
}

function findBreaker (app: FastifyInstance, name: string): CircuitBreaker | undefined {
  for (const breaker of app.circuitBreakers) {
    if (breaker.name === name) return breaker
  }
  return undefined
}

type OnRequest = (
  request: FastifyRequest,
  reply: FastifyReply,
  done: HookHandlerDoneFunction
) => void

async function authorizer (
  app: FastifyInstance,
  adminToken: string | undefined
): Promise<OnRequest> {
  if (adminToken === undefined) {
    app.log.warn('manual control is off: set ADMIN_TOKEN to turn it on')
    return (_request, _reply, done) => {
      done(app.httpErrors.forbidden('manual control is off: no ADMIN_TOKEN is configured'))
    }
  }

  await app.register(bearerAuth, {
    keys: [adminToken],
    addHook: false,
    verifyErrorLogLevel: 'warn',
    // HTTP auth schemes are case-insensitive: "bearer" is as good as "Bearer".
    specCompliance: 'rfc6749',
  })
  return (request, reply, done) => {
    app.verifyBearerAuth!(request, reply, (error?: Error) => {
      if (error !== undefined) {
        const missing = request.headers.authorization === undefined
        reply.header('www-authenticate', missing ? REALM : `${REALM}, error="invalid_token"`)
      }
      done(error)
    })
  }
}
