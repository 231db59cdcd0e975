import { BrokenCircuitError } from 'cockatiel'

/** Codes carried by every error this plugin throws, stable across releases. */
export const ErrorCodes = {
  INVALID_OPTION: 'FST_BREAKER_INVALID_OPTION',
  CIRCUIT_OPEN: 'FST_BREAKER_CIRCUIT_OPEN',
  CIRCUIT_ISOLATED: 'FST_BREAKER_CIRCUIT_ISOLATED',
  CALL_TIMEOUT: 'FST_BREAKER_CALL_TIMEOUT',
  UNKNOWN_BREAKER: 'FST_BREAKER_UNKNOWN_BREAKER',
  INVALID_KEY: 'FST_BREAKER_INVALID_KEY',
} as const

/** Thrown at registration when an option is missing its contract. */
export class InvalidOptionError extends TypeError {
  readonly code = ErrorCodes.INVALID_OPTION
  readonly option: string
  readonly value: unknown

  constructor (option: string, expected: string, value: unknown) {
    super(`circuit breaker option "${option}" must be ${expected}, got ${describe(value)}`)
    this.name = 'InvalidOptionError'
    this.option = option
    this.value = value
  }
}

/**
 * Rejection of a call the circuit did not let through. It is still a cockatiel
 * `BrokenCircuitError`, so `isBrokenCircuitError()` recognises it, and it carries the
 * `statusCode` and `headers` that Fastify's default error handler turns into a 503
 * with a `Retry-After` header.
 */
export class CircuitOpenError extends BrokenCircuitError {
  readonly code: string = ErrorCodes.CIRCUIT_OPEN
  readonly statusCode = 503
  readonly isCircuitOpenError = true
  readonly breaker: string
  readonly retryAfterSeconds: number
  readonly headers: { 'retry-after': string }

  constructor (breaker: string, retryAfterMs: number) {
    super(`circuit breaker "${breaker}" is open`)
    this.name = 'CircuitOpenError'
    this.breaker = breaker
    this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000))
    this.headers = { 'retry-after': String(this.retryAfterSeconds) }
  }
}

/** The circuit is held open by hand; cockatiel's `isIsolatedCircuitError()` sees it too. */
export class CircuitIsolatedError extends CircuitOpenError {
  override readonly code: string = ErrorCodes.CIRCUIT_ISOLATED
  readonly isIsolatedCircuitError = true

  constructor (breaker: string, retryAfterMs: number) {
    super(breaker, retryAfterMs)
    this.name = 'CircuitIsolatedError'
    this.message = `circuit breaker "${breaker}" is held open`
  }
}

/** A call took longer than the breaker's `timeout`; it counts as a failure. */
export class CallTimeoutError extends Error {
  readonly code = ErrorCodes.CALL_TIMEOUT
  readonly statusCode = 504
  readonly isCallTimeoutError = true
  readonly breaker: string
  readonly timeoutMs: number

  constructor (breaker: string, timeoutMs: number) {
    super(`call through circuit breaker "${breaker}" timed out after ${timeoutMs} ms`)
    this.name = 'CallTimeoutError'
    this.breaker = breaker
    this.timeoutMs = timeoutMs
  }
}

/** Asked for a breaker by a name that was never registered. */
export class UnknownBreakerError extends Error {
  readonly code = ErrorCodes.UNKNOWN_BREAKER
  readonly breaker: string

  constructor (breaker: string, known: Iterable<string>) {
    super(`no circuit breaker is named ${JSON.stringify(breaker)}; known: ${[...known].join(', ')}`)
    this.name = 'UnknownBreakerError'
    this.breaker = breaker
  }
}

/** A per-key breaker was asked for with a key that cannot name one. */
export class InvalidKeyError extends TypeError {
  readonly code = ErrorCodes.INVALID_KEY
  readonly key: unknown

  constructor (key: unknown) {
    super(`a breaker key must be a string of 1 to 256 characters, got ${describe(key)}`)
    this.name = 'InvalidKeyError'
    this.key = key
  }
}

/** True for any rejection of this plugin's breakers, without relying on `instanceof`. */
export function isCircuitOpenError (error: unknown): error is CircuitOpenError {
  return typeof error === 'object' && error !== null && 'isCircuitOpenError' in error
}

/**
 * Builds an error without capturing a stack trace. A rejection happens on every request
 * while a dependency is down, and its stack would only ever point at the breaker itself.
 */
export function withoutStackTrace<T extends Error> (build: () => T): T {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return build()
  } finally {
    Error.stackTraceLimit = limit
  }
}

function describe (value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'function') return 'a function'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object' && value !== null) return 'an object'
  return String(value)
}
