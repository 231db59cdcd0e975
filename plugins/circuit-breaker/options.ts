import { InvalidOptionError } from './errors.ts'

/** Opens after `threshold` failures in a row. */
export interface ConsecutivePolicy {
  kind: 'consecutive'
  /** Failures in a row that open the circuit: an integer of at least 1. */
  threshold: number
}

/** Opens when the failure ratio over a sliding time window passes `threshold`. */
export interface SamplingPolicy {
  kind: 'sampling'
  /** Failure ratio, between 0 and 1 (both excluded), that opens the circuit. */
  threshold: number
  /** Length of the sliding window in milliseconds. */
  duration: number
  /** Calls per second the window must see before it may open. Default: 5 / threshold / s. */
  minimumRps?: number
}

/** Opens when the failure ratio over the last `size` calls passes `threshold`. */
export interface CountPolicy {
  kind: 'count'
  /** Failure ratio, between 0 and 1 (both excluded), that opens the circuit. */
  threshold: number
  /** How many of the latest calls are looked at. */
  size: number
  /** Calls seen before it may open. Default: `size`. */
  minimumNumberOfCalls?: number
}

export type BreakerPolicy = ConsecutivePolicy | SamplingPolicy | CountPolicy

/** An open period that grows each time a trial fails, up to a cap. */
export interface ExponentialOpenDuration {
  /** Milliseconds of the first open period. */
  initial: number
  /** Milliseconds no open period exceeds. */
  max: number
  /** How much each failed trial multiplies the period by. Default 2. */
  factor?: number
}

/** Options of one breaker. */
export interface BreakerOptions {
  /** Failures in a row that open the circuit; shorthand for a consecutive `policy`. */
  threshold?: number
  /** When the circuit opens: consecutive failures (default), or a failure ratio. */
  policy?: BreakerPolicy
  /** Milliseconds the circuit stays open before a trial, or a growing period. Default 10000. */
  halfOpenAfter?: number | ExponentialOpenDuration
  /** Trial calls admitted while half-open, and the share of them that may fail. */
  halfOpenSampling?: { calls: number, threshold: number }
  /** Milliseconds a call may take; a slower one fails with a 504 `CallTimeoutError`. */
  timeout?: number
  /**
   * Whether a thrown value counts as a failure of the dependency. Default: any error
   * except one whose `statusCode` is 4xx, which is the caller's fault.
   */
  isFailure?: (error: unknown) => boolean
}

export interface ResolvedBreakerOptions {
  name: string
  policy: BreakerPolicy
  halfOpenAfter: number | Required<ExponentialOpenDuration>
  halfOpenSampling: { calls: number, threshold: number }
  timeout: number | undefined
  isFailure: (error: unknown) => boolean
}

export const defaults = {
  name: 'default',
  threshold: 3,
  halfOpenAfter: 10_000,
  factor: 2,
  halfOpenSampling: { calls: 1, threshold: 0 },
} as const

const NAME_PATTERN = /^[A-Za-z0-9][\w.:-]{0,127}$/

/** Checks every option of one breaker once, at registration, and fills in the defaults. */
export function resolveBreakerOptions (
  name: string,
  options: BreakerOptions = {},
  at = ''
): ResolvedBreakerOptions {
  const check: OptionCheck = new OptionCheck(at)
  check.that(typeof options === 'object' && options !== null, 'options', 'an object', options)
  check.that(typeof name === 'string' && NAME_PATTERN.test(name), 'name',
    'a name of letters, digits, ".", ":", "_" or "-"', name)

  const isFailure = options.isFailure ?? isDependencyFailure
  check.that(typeof isFailure === 'function', 'isFailure', 'a function', isFailure)

  const timeout = options.timeout
  check.that(timeout === undefined || (Number.isFinite(timeout) && timeout > 0), 'timeout',
    'a number of milliseconds above 0', timeout)

  return {
    name,
    policy: resolvePolicy(options, check),
    halfOpenAfter: resolveOpenDuration(options.halfOpenAfter, check),
    halfOpenSampling: resolveSampling(options.halfOpenSampling, check),
    timeout,
    isFailure,
  }
}

function resolvePolicy (options: BreakerOptions, check: OptionCheck): BreakerPolicy {
  const { threshold, policy } = options
  check.that(threshold === undefined || policy === undefined, 'threshold',
    'left out when a policy is given', threshold)
  if (policy === undefined) {
    const count = threshold ?? defaults.threshold
    check.integer('threshold', count, 1)
    return { kind: 'consecutive', threshold: count }
  }

  check.that(typeof policy === 'object' && policy !== null, 'policy', 'an object', policy)
  switch (policy.kind) {
    case 'consecutive':
      check.integer('policy.threshold', policy.threshold, 1)
      return { kind: 'consecutive', threshold: policy.threshold }

    case 'sampling':
      check.ratio('policy.threshold', policy.threshold)
      check.that(Number.isFinite(policy.duration) && policy.duration >= 1000, 'policy.duration',
        'a number of milliseconds of at least 1000', policy.duration)
      check.that(policy.minimumRps === undefined || isPositive(policy.minimumRps),
        'policy.minimumRps', 'a number above 0', policy.minimumRps)
      return { ...policy }

    case 'count':
      check.ratio('policy.threshold', policy.threshold)
      check.integer('policy.size', policy.size, 1)
      if (policy.minimumNumberOfCalls !== undefined) {
        check.integer('policy.minimumNumberOfCalls', policy.minimumNumberOfCalls, 1, policy.size)
      }
      return { ...policy }

    default:
      throw check.failure('policy.kind', '"consecutive", "sampling" or "count"',
        (policy as { kind: unknown }).kind)
  }
}

function resolveOpenDuration (
  halfOpenAfter: BreakerOptions['halfOpenAfter'],
  check: OptionCheck
): ResolvedBreakerOptions['halfOpenAfter'] {
  if (halfOpenAfter === undefined) return defaults.halfOpenAfter
  if (typeof halfOpenAfter !== 'object' || halfOpenAfter === null || Array.isArray(halfOpenAfter)) {
    check.that(Number.isFinite(halfOpenAfter) && (halfOpenAfter as number) >= 0, 'halfOpenAfter',
      'a number of milliseconds, 0 or more, or { initial, max, factor }', halfOpenAfter)
    return halfOpenAfter as number
  }

  const { initial, max } = halfOpenAfter
  const factor = halfOpenAfter.factor ?? defaults.factor
  check.that(isPositive(initial), 'halfOpenAfter.initial', 'a number of milliseconds above 0',
    initial)
  check.that(isPositive(max) && max >= initial, 'halfOpenAfter.max',
    'a number of milliseconds, at least halfOpenAfter.initial', max)
  check.that(Number.isFinite(factor) && factor >= 1, 'halfOpenAfter.factor',
    'a number of at least 1', factor)
  return { initial, max, factor }
}

function resolveSampling (
  sampling: BreakerOptions['halfOpenSampling'],
  check: OptionCheck
): ResolvedBreakerOptions['halfOpenSampling'] {
  if (sampling === undefined) return defaults.halfOpenSampling

  check.that(typeof sampling === 'object' && sampling !== null, 'halfOpenSampling',
    'an object { calls, threshold }', sampling)
  check.integer('halfOpenSampling.calls', sampling.calls, 1)
  check.that(Number.isFinite(sampling.threshold) && sampling.threshold >= 0 &&
    sampling.threshold < 1, 'halfOpenSampling.threshold', 'a ratio from 0 up to 1 (excluded)',
  sampling.threshold)
  return { calls: sampling.calls, threshold: sampling.threshold }
}

/** The default failure rule: a 4xx status is the caller's mistake, not the dependency's. */
export function isDependencyFailure (error: unknown): boolean {
  const status = typeof error === 'object' && error !== null && 'statusCode' in error
    ? error.statusCode
    : undefined
  return !(typeof status === 'number' && status >= 400 && status < 500)
}

function isPositive (value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0
}

/** Throws an `InvalidOptionError` naming the option, prefixed by where it was given. */
class OptionCheck {
  readonly #at: string

  constructor (at: string) {
    this.#at = at
  }

  that (ok: boolean, option: string, expected: string, value: unknown): asserts ok {
    if (!ok) throw this.failure(option, expected, value)
  }

  integer (option: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): void {
    const expected = max === Number.MAX_SAFE_INTEGER
      ? `an integer of at least ${min}`
      : `an integer from ${min} to ${max}`
    this.that(Number.isSafeInteger(value) && (value as number) >= min &&
      (value as number) <= max, option, expected, value)
  }

  ratio (option: string, value: unknown): void {
    this.that(typeof value === 'number' && value > 0 && value < 1, option,
      'a ratio between 0 and 1 (both excluded)', value)
  }

  failure (option: string, expected: string, value: unknown): InvalidOptionError {
    return new InvalidOptionError(this.#at + option, expected, value)
  }
}
