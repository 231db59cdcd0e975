import Fastify, { type FastifyInstance } from 'fastify'

import { buildApp } from '../../app.ts'
import { loadConfig } from '../../config.ts'
import circuitBreaker, {
  type CircuitBreakerPluginOptions,
} from '../../plugins/circuit-breaker/index.ts'
import { logCapture, type LogLine } from './logs.ts'

interface TestContext {
  teardown (fn: () => unknown): void
}

/** A bare Fastify app with only the plugin, closed when the test ends. */
export async function pluginApp (
  t: TestContext,
  options: CircuitBreakerPluginOptions = {}
): Promise<{ app: FastifyInstance, logs: LogLine[] }> {
  const { stream, lines } = logCapture()
  const app = Fastify({ logger: { level: 'info', stream } })
  t.teardown(() => app.close())

  await app.register(circuitBreaker, options)
  return { app, logs: lines }
}

export interface ServiceAppOptions {
  /** Environment variables the service is configured from. */
  env?: Record<string, string>
  /** The simulated dependency's source of chance; by default it always succeeds. */
  random?: () => number
  /** Adds test-only routes before the app is sealed. */
  extend?: (app: FastifyInstance) => void
}

/** The whole service with scripted chance, closed when the test ends. */
export async function serviceApp (
  t: TestContext,
  options: ServiceAppOptions = {}
): Promise<{ app: FastifyInstance, logs: LogLine[] }> {
  const { stream, lines } = logCapture()
  const app = await buildApp({
    config: loadConfig(options.env ?? {}),
    logger: { level: 'info', stream },
    random: options.random ?? (() => 0.99),
  })
  t.teardown(() => app.close())

  options.extend?.(app)
  await app.ready()
  return { app, logs: lines }
}

/** A random source that replays `values` in order, then repeats the last one. */
export function scriptedRandom (...values: number[]): () => number {
  let next = 0
  return () => values[Math.min(next++, values.length - 1)] ?? 0
}
