export interface Quote {
  symbol: string
  price: number
  currency: string
}

/**
 * The trivial dependency every guarded variant calls: it answers at once with a small
 * object, so what the bench measures is the guard and the framework, not the work.
 */
export function readQuote (): Quote {
  return { symbol: 'ACME', price: 101.25, currency: 'EUR' }
}

export class DependencyDown extends Error {
  constructor () {
    super('the dependency is down')
    this.name = 'DependencyDown'
  }
}

/** A dependency that fails its first `failures` calls, then answers as `readQuote` does. */
export function failingFirst (failures: number): typeof readQuote {
  let left = failures
  return () => {
    if (left > 0) {
      left--
      throw new DependencyDown()
    }
    return readQuote()
  }
}
