import { readQuote } from './servers/dependency.ts'
import { OPEN_FOR_MS } from './servers/harness.ts'

/** What every response of a variant must be for its numbers to count. */
export interface Expected {
  status: number
  /** The exact body, where the variant promises one. */
  body?: string
  headers?: Record<string, string>
}

export interface Variant {
  id: string
  /** The server script in bench/servers/. */
  script: string
  description: string
  expected: Expected
  /** The built plugin it loads, when not the one of this checkout (see --compare). */
  pluginUrl?: string
}

const quote: Expected = { status: 200, body: JSON.stringify(readQuote()) }

// The 503 an open breaker of this plugin answers through Fastify's default error
// handler; the bare 503 baseline answers these very bytes.
const circuitOpen: Expected = {
  status: 503,
  body: JSON.stringify({
    statusCode: 503,
    code: 'FST_BREAKER_CIRCUIT_OPEN',
    error: 'Service Unavailable',
    message: 'circuit breaker "default" is open',
  }),
  headers: { 'retry-after': String(OPEN_FOR_MS / 1000) },
}

export const BARE = 'fastify-bare'
export const BARE_503 = 'fastify-503'

export const variants: Variant[] = [
  {
    id: 'node-http',
    script: 'node-http.ts',
    description: 'node:http, no framework',
    expected: quote,
  },
  { id: BARE, script: 'fastify-bare.ts', description: 'bare Fastify route', expected: quote },
  {
    id: 'breaker-execute',
    script: 'breaker-execute.ts',
    description: 'this plugin, execute(), closed',
    expected: quote,
  },
  {
    id: 'breaker-route',
    script: 'breaker-route.ts',
    description: 'this plugin, route protection, closed',
    expected: quote,
  },
  {
    id: 'fastify-cb',
    script: 'fastify-cb.ts',
    description: '@fastify/circuit-breaker, closed',
    expected: quote,
  },
  { id: 'opossum', script: 'opossum.ts', description: 'opossum fire(), closed', expected: quote },
  {
    id: BARE_503,
    script: 'fastify-503.ts',
    description: 'bare Fastify route throwing the same 503',
    expected: circuitOpen,
  },
  {
    id: 'breaker-execute-open',
    script: 'breaker-execute-open.ts',
    description: 'this plugin, execute(), open',
    expected: circuitOpen,
  },
  {
    id: 'breaker-route-open',
    script: 'breaker-route-open.ts',
    description: 'this plugin, route protection, open',
    expected: circuitOpen,
  },
  {
    id: 'fastify-cb-open',
    script: 'fastify-cb-open.ts',
    description: '@fastify/circuit-breaker, open',
    expected: { status: 503 },
  },
  {
    id: 'opossum-open',
    script: 'opossum-open.ts',
    description: 'opossum fire(), open',
    expected: { status: 503 },
  },
]
