/** The simulated dependency failed, as it does at the configured failure rate. */
export class SimulatedFailure extends Error {
  readonly statusCode = 500
  readonly expose = true

  constructor () {
    super('Simulated failure')
    this.name = 'SimulatedFailure'
  }
}

/**
 * A dependency that fails at `failureRate` (0 never, 1 always). `random` is the source of
 * chance, so tests can script every outcome.
 */
export function simulatedDependency (
  failureRate: number,
  random: () => number = Math.random
): () => Promise<string> {
  return async () => {
    if (random() < failureRate) throw new SimulatedFailure()
    return 'Success!'
  }
}
