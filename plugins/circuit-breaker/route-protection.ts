import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
  RouteOptions,
} from 'fastify'

import type { CircuitBreaker, PendingCall } from './breaker.ts'
import { CallTimeoutError, isCircuitOpenError } from './errors.ts'
import type { BreakerRegistry } from './registry.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Guards the whole route with the breaker of this name (`true`: the default one). */
    circuitBreaker?: string | true
  }
}

interface GuardedRequest {
  call: PendingCall
  error: unknown
  timer: NodeJS.Timeout | undefined
}

const kGuard = Symbol('fastify-breaker.guard')

type WithGuard = FastifyRequest & { [kGuard]: GuardedRequest | null }

/** A 5xx reply that carried no thrown error still has to be reported as a failure. */
class FailedReply extends Error {
  readonly statusCode: number

  constructor (statusCode: number) {
    super(`the route answered ${statusCode}`)
    this.statusCode = statusCode
  }
}

/**
 * Lets a route name a breaker in its config. A request is admitted (or rejected with a
 * 503) just before its handler runs, and its outcome is reported when the reply is done:
 * a 5xx reply, a thrown error or a timeout is a failure, 2xx-4xx a success.
 *
 * Admission waits for the preHandler stage, after parsing and validation: a request
 * refused there never reached the dependency, so it must not count, and above all must
 * not become a half-open trial whose 400 closes the circuit.
 */
export function protectRoutes (
  app: FastifyInstance,
  registry: BreakerRegistry,
  defaultName: string
): void {
  app.decorateRequest(kGuard, null)

  app.addHook('onRoute', (route: RouteOptions) => {
    const wanted = route.config?.circuitBreaker
    if (wanted === undefined) return

    const breaker = registry.get(wanted === true ? defaultName : wanted)
    route.preHandler = [...hooks(route.preHandler), admitTo(breaker)]
    route.onError = [...hooks(route.onError), rememberError]
    route.onResponse = [...hooks(route.onResponse), reportOutcome]
    route.onRequestAbort = [...hooks(route.onRequestAbort), reportAbandoned]
  })
}

function admitTo (breaker: CircuitBreaker) {
  const { timeout } = breaker.settings

  return function admit (
    request: FastifyRequest,
    reply: FastifyReply,
    done: HookHandlerDoneFunction
  ): void {
    const call = breaker.begin()
    if (isCircuitOpenError(call)) return done(call)

    const guard: GuardedRequest = { call, error: undefined, timer: undefined }
    if (timeout !== undefined) {
      guard.timer = setTimeout(() => {
        if (!reply.sent) reply.send(new CallTimeoutError(breaker.name, timeout))
      }, timeout)
    }
    ;(request as WithGuard)[kGuard] = guard
    // Fastify runs onRequestAbort once, when the client leaves, and sends no onResponse
    // after. A client that left during an earlier hook was reported before this call
    // began: without settling it here, a trial would hold the circuit half-open for good.
    if (request.raw.aborted) return reportAbandoned(request, done)
    done()
  }
}

function rememberError (
  request: FastifyRequest,
  _reply: FastifyReply,
  error: unknown,
  done: HookHandlerDoneFunction
): void {
  const guard = (request as WithGuard)[kGuard]
  if (guard !== null) guard.error = error
  done()
}

function reportOutcome (
  request: FastifyRequest,
  reply: FastifyReply,
  done: HookHandlerDoneFunction
): void {
  const guard = (request as WithGuard)[kGuard]
  if (guard !== null) {
    clearTimeout(guard.timer)
    if (reply.statusCode >= 500) guard.call.fail(guard.error ?? new FailedReply(reply.statusCode))
    else guard.call.succeed()
  }
  done()
}

function reportAbandoned (request: FastifyRequest, done: HookHandlerDoneFunction): void {
  const guard = (request as WithGuard)[kGuard]
  if (guard !== null) {
    clearTimeout(guard.timer)
    guard.call.abandon()
  }
  done()
}

function hooks<T> (existing: T | T[] | undefined): T[] {
  if (existing === undefined) return []
  return Array.isArray(existing) ? existing : [existing]
}
