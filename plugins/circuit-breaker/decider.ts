import {
  ConsecutiveBreaker,
  ConstantBackoff,
  CountBreaker,
  SamplingBreaker,
  type IBackoff,
  type IBackoffFactory,
  type IBreaker,
  type IHalfOpenAfterBackoffContext,
} from 'cockatiel'

import type { BreakerPolicy, ResolvedBreakerOptions } from './options.ts'

type OpenDurations = IBackoffFactory<IHalfOpenAfterBackoffContext>

/** The cockatiel breaker that decides, from outcomes, when the circuit opens. */
export function createDecider (policy: BreakerPolicy): IBreaker {
  switch (policy.kind) {
    case 'consecutive':
      return new ConsecutiveBreaker(policy.threshold)
    case 'sampling':
      return new SamplingBreaker(policy)
    case 'count':
      return new CountBreaker(policy)
  }
}

/**
 * How long each open period lasts. A growing period is computed here rather than with
 * cockatiel's ExponentialBackoff, whose jitter-free generator ignores the exponent.
 */
export function createOpenDurations (
  halfOpenAfter: ResolvedBreakerOptions['halfOpenAfter']
): OpenDurations {
  if (typeof halfOpenAfter === 'number') return new ConstantBackoff(halfOpenAfter)

  const { initial, max, factor } = halfOpenAfter
  const period = (failedTrials: number): IBackoff<IHalfOpenAfterBackoffContext> => ({
    duration: Math.min(max, initial * factor ** failedTrials),
    next: () => period(failedTrials + 1),
  })
  return { next: () => period(0) }
}

/** Wraps open durations so the one cockatiel picks each time is known outside it too. */
export function recordDurations (factory: OpenDurations, record: { ms: number }): OpenDurations {
  return {
    next (context) {
      const backoff = factory.next(context)
      record.ms = backoff.duration
      return { duration: backoff.duration, next: recordDurations(backoff, record).next }
    },
  }
}
