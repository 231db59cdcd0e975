import { isIP } from 'node:net'

import envSchema from 'env-schema'

/** The service's settings, read from the environment and checked once at start-up. */
export interface Config {
  PORT: number
  HOST: string
  /** Consecutive failures that open the circuit. */
  FAIL_MAX: number
  /** Seconds the circuit stays open before a trial call. */
  RESET_TIMEOUT: number
  /** Share of simulated dependency calls that fail, from 0 to 1. */
  FAILURE_RATE: number
  LOG_LEVEL: string
  /** The service `GET /unstable` calls instead of the simulation, when set. */
  UPSTREAM_URL?: string
  /** Milliseconds a call to the upstream may take, answer and body included. */
  UPSTREAM_TIMEOUT_MS: number
  /** Bearer token that unlocks manual control; unset turns manual control off. */
  ADMIN_TOKEN?: string
  /** Transitions and manual actions kept for `GET /circuitbreakers/events`. */
  EVENT_HISTORY_SIZE: number
}

export interface ConfigSources {
  /** A dotenv file to read too; the environment wins over it. Default: none. */
  envFile?: string
}

// env-schema's ajv loads no formats, so `format: 'uri'` is unknown there. This one is ours,
// named so that a refusal reads `must match format "absolute http(s) URL"`.
const HTTP_URL_FORMAT = 'absolute http(s) URL'

// A listen address: an IP literal or a host name of letters, digits, dots and dashes.
const HOST_FORMAT = 'IP address or host name'
const HOST_LABEL = '[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
const HOST_NAME = new RegExp(`^(?=.{1,253}$)${HOST_LABEL}(\\.${HOST_LABEL})*$`)

// Node's timers, which enforce the timeout, cannot wait longer than this.
const LONGEST_TIMER_MS = 2_147_483_647

const schema = {
  type: 'object',
  properties: {
    PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 5001 },
    HOST: { type: 'string', format: HOST_FORMAT, default: '0.0.0.0' },
    FAIL_MAX: { type: 'integer', minimum: 1, default: 3 },
    RESET_TIMEOUT: { type: 'number', minimum: 0, maximum: 86400, default: 10 },
    FAILURE_RATE: { type: 'number', minimum: 0, maximum: 1, default: 0.5 },
    LOG_LEVEL: {
      type: 'string',
      enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      default: 'info',
    },
    UPSTREAM_URL: { type: 'string', format: HTTP_URL_FORMAT },
    UPSTREAM_TIMEOUT_MS: { type: 'integer', minimum: 1, maximum: LONGEST_TIMER_MS, default: 2000 },
    // Long enough that guessing it is hopeless; a typo'd short token fails at start.
    // The characters RFC 6750 allows in a bearer token, so it can be sent in a header.
    ADMIN_TOKEN: { type: 'string', minLength: 16, pattern: '^[A-Za-z0-9._~+/-]+=*$' },
    EVENT_HISTORY_SIZE: { type: 'integer', minimum: 1, maximum: 100_000, default: 200 },
  },
} as const

/**
 * Reads the configuration from `env` alone (and `envFile`, when given), so tests stay
 * apart from the real environment. Throws an error naming the variable when one is wrong.
 */
export function loadConfig (
  env: Record<string, string | undefined> = process.env,
  sources: ConfigSources = {}
): Config {
  const config = envSchema<Config>({
    schema,
    data: env,
    env: false,
    dotenv: sources.envFile === undefined ? false : { path: sources.envFile },
    ajv: {
      customOptions: (ajv) => ajv
        .addFormat(HTTP_URL_FORMAT, isHttpUrl)
        .addFormat(HOST_FORMAT, (value: string) => isIP(value) !== 0 || HOST_NAME.test(value)),
    },
  })
  rejectInfinity(config)
  return config
}

/**
 * ajv reads "Infinity" and "1e400" as numbers, and its minimum and maximum ignore them;
 * every numeric setting here must be finite.
 */
function rejectInfinity (config: Config): void {
  for (const [variable, value] of Object.entries(config)) {
    if (typeof value === 'number' && !Number.isFinite(value)) {
      throw new Error(`env/${variable} must be a finite number`)
    }
  }
}

function isHttpUrl (value: string): boolean {
  const protocol = URL.parse(value)?.protocol
  return protocol === 'http:' || protocol === 'https:'
}
