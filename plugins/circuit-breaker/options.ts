import { InvalidOptionError } from './errors.ts'

/** Options of one breaker, as given to `app.register(circuitBreaker, options)`. */
export interface BreakerOptions {
  /** Name used in logs, errors and snapshots. Default `'default'`. */
  name?: string
  /** Consecutive failures that open the circuit: an integer of at least 1. Default 3. */
  threshold?: number
  /** Milliseconds the circuit stays open before one trial call is admitted. Default 10000. */
  halfOpenAfter?: number
  /**
   * Decides whether a thrown value counts as a failure of the dependency. Default: any
   * error except one whose `statusCode` is 4xx, which is the caller's fault.
   */
  isFailure?: (error: unknown) => boolean
}

export interface ResolvedBreakerOptions {
  name: string
  threshold: number
  halfOpenAfter: number
  isFailure: (error: unknown) => boolean
}

export const defaults = {
  name: 'default',
  threshold: 3,
  halfOpenAfter: 10_000,
} as const

const NAME_PATTERN = /^[A-Za-z0-9][\w.-]{0,63}$/

/** Checks every option once, at registration, and fills in the defaults. */
export function resolveBreakerOptions (options: BreakerOptions = {}): ResolvedBreakerOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', 'an object', options)
  }

  const name = options.name ?? defaults.name
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    throw new InvalidOptionError('name', 'a name of letters, digits, ".", "_" or "-"', name)
  }

  const threshold = options.threshold ?? defaults.threshold
  if (!Number.isSafeInteger(threshold) || threshold < 1) {
    throw new InvalidOptionError('threshold', 'an integer of at least 1', threshold)
  }

  const halfOpenAfter = options.halfOpenAfter ?? defaults.halfOpenAfter
  if (!Number.isFinite(halfOpenAfter) || halfOpenAfter < 0) {
    throw new InvalidOptionError('halfOpenAfter', 'a number of milliseconds, 0 or more',
      halfOpenAfter)
  }

  const isFailure = options.isFailure ?? isDependencyFailure
  if (typeof isFailure !== 'function') {
    throw new InvalidOptionError('isFailure', 'a function', isFailure)
  }

  return { name, threshold, halfOpenAfter, isFailure }
}

/** The default failure rule: a 4xx status is the caller's mistake, not the dependency's. */
export function isDependencyFailure (error: unknown): boolean {
  const status = typeof error === 'object' && error !== null && 'statusCode' in error
    ? error.statusCode
    : undefined
  return !(typeof status === 'number' && status >= 400 && status < 500)
}
