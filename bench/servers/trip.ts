import type { CircuitBreaker } from '../../plugins/circuit-breaker/index.ts'
import { DependencyDown } from './dependency.ts'

/** Opens the breaker the way an outage would: calls that fail until it opens. */
export async function tripBreaker (breaker: CircuitBreaker): Promise<void> {
  while (breaker.snapshot().state === 'closed') {
    await breaker.execute(() => { throw new DependencyDown() }).catch(() => {})
  }
  if (breaker.snapshot().state !== 'open') {
    throw new Error(`the breaker should be open, it is ${breaker.snapshot().state}`)
  }
}
