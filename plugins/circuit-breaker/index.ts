import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'

import type { CircuitBreaker } from './breaker.ts'
import { InvalidOptionError } from './errors.ts'
import type { KeyedLimits } from './keyed.ts'
import { defaults, resolveBreakerOptions, type BreakerOptions } from './options.ts'
import { BreakerRegistry } from './registry.ts'
import { protectRoutes } from './route-protection.ts'

export type KeyedBreakerOptions = BreakerOptions & Partial<KeyedLimits>

/** The default breaker's options, and any more breakers the app needs. */
export interface CircuitBreakerPluginOptions extends BreakerOptions {
  /** The default breaker's name. Default `'default'`. */
  name?: string
  /** More breakers by name, each with its own options. */
  breakers?: Record<string, BreakerOptions>
  /** Templates of per-key breakers by name: `app.circuitBreakers.keyed(name).get(key)`. */
  keyedBreakers?: Record<string, KeyedBreakerOptions>
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The app's default circuit breaker: call a dependency with `execute(fn)`. */
    circuitBreaker: CircuitBreaker
    /** Every breaker of the app, by name. */
    circuitBreakers: BreakerRegistry
  }
}

const keyedDefaults: KeyedLimits = { maxKeys: 1000, idleAfter: 600_000 }

const plugin: FastifyPluginAsync<CircuitBreakerPluginOptions> = async (app, options) => {
  const registry = new BreakerRegistry(app.log)
  const defaultName = options.name ?? defaults.name

  const defaultBreaker = registry.add(resolveBreakerOptions(defaultName, options))
  for (const [name, breakerOptions] of entries(options.breakers, 'breakers')) {
    if (registry.has(name)) throw new InvalidOptionError(`breakers.${name}`, 'a new name', name)
    registry.add(resolveBreakerOptions(name, breakerOptions, `breakers.${name}.`))
  }
  for (const [name, template] of entries(options.keyedBreakers, 'keyedBreakers')) {
    const at = `keyedBreakers.${name}.`
    registry.addKeyed(resolveBreakerOptions(name, template, at), resolveLimits(template, at))
  }

  app.decorate('circuitBreaker', defaultBreaker)
  app.decorate('circuitBreakers', registry)
  protectRoutes(app, registry, defaultName)

  app.addHook('onClose', async () => {
    registry.close()
  })
}

function entries<T> (record: Record<string, T> | undefined, option: string): Array<[string, T]> {
  if (record === undefined) return []
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    throw new InvalidOptionError(option, 'an object of options by name', record)
  }
  return Object.entries(record)
}

function resolveLimits (options: Partial<KeyedLimits>, at: string): KeyedLimits {
  const maxKeys = options.maxKeys ?? keyedDefaults.maxKeys
  if (!Number.isSafeInteger(maxKeys) || maxKeys < 1) {
    throw new InvalidOptionError(`${at}maxKeys`, 'an integer of at least 1', maxKeys)
  }
  const idleAfter = options.idleAfter ?? keyedDefaults.idleAfter
  if (!Number.isFinite(idleAfter) || idleAfter <= 0) {
    throw new InvalidOptionError(`${at}idleAfter`, 'a number of milliseconds above 0', idleAfter)
  }
  return { maxKeys, idleAfter }
}

/** Registers circuit breakers as `app.circuitBreaker` and `app.circuitBreakers`. */
const circuitBreaker = fp(plugin, { name: 'fastify-breaker', fastify: '5.x' })

export default circuitBreaker
export { circuitBreaker }
export { CircuitBreaker } from './breaker.ts'
export type {
  CircuitSnapshot,
  CircuitStateName,
  CircuitTransition,
  PendingCall,
} from './breaker.ts'
export {
  CallTimeoutError,
  CircuitIsolatedError,
  CircuitOpenError,
  ErrorCodes,
  InvalidKeyError,
  InvalidOptionError,
  isCircuitOpenError,
  UnknownBreakerError,
} from './errors.ts'
export type { KeyedBreakers, KeyedLimits } from './keyed.ts'
export type {
  BreakerOptions,
  BreakerPolicy,
  ConsecutivePolicy,
  CountPolicy,
  ExponentialOpenDuration,
  SamplingPolicy,
} from './options.ts'
export type { BreakerRegistry } from './registry.ts'
