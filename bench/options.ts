import { join } from 'node:path'
import { parseArgs } from 'node:util'

import { variants, type Variant } from './variants.ts'

export interface BenchSettings {
  rounds: number
  /** Seconds of load each variant gets in a round, in slices of `sliceSeconds`. */
  durationSeconds: number
  sliceSeconds: number
  warmupSeconds: number
  connections: number
  /** Other processes' CPU, in % of one core, above which the bench waits for them. */
  maxNoisePercent: number
  /** Seconds the whole run may wait, before windows, for other processes to calm down. */
  maxQuietWaitSeconds: number
  /** The servers' semi-space size in MB; 0 leaves the young generation to V8. */
  semiSpaceMb: number
  seed: number
  variants: Variant[]
  /** Where the servers write CPU profiles, if anywhere. */
  cpuProfileDir: string | undefined
  /** The checkout whose plugins/circuit-breaker is built and measured. */
  pluginRoot: string
  /** Another checkout whose plugin is measured beside it, in the same rounds. */
  compareRoot: string | undefined
  /** The results file, or `undefined` to write none. */
  out: string | undefined
  micro: boolean
}

export const usage = `npm run bench -- [options]
  --rounds N           rounds over every variant (default 6)
  --duration S         seconds measured per variant and round (default 2)
  --slice S            ...given in slices of S seconds, in a shuffled order (default 0.5)
  --warmup S           seconds of load before each measured window (default 1)
  --connections N      autocannon connections (default 10)
  --only a,b           these variants only (${variants.map((v) => v.id).join(', ')})
  --seed N             replay a shuffled order
  --max-noise P        wait before each turn of slices while other processes take more
                       than P% of a core (default 25)
  --max-wait S         seconds the run may spend waiting for that, in all (default 30)
  --semi-space MB      the servers' young generation, per semi-space (default 16; 0: V8's)
  --cpu-prof DIR       write each server's CPU profile to DIR
  --plugin-root DIR    measure the plugin of another checkout (e.g. a git worktree)
  --compare DIR        also measure the plugin of DIR, in the same rounds: every
                       breaker-* variant again, as <variant>@compared
  --out FILE|none      results file (default bench/results.md)
  --no-micro           skip bench/micro.ts`

function parse (args: string[], root: string) {
  return parseArgs({
    args,
    options: {
      rounds: { type: 'string', default: '6' },
      duration: { type: 'string', default: '2' },
      slice: { type: 'string', default: '0.5' },
      warmup: { type: 'string', default: '1' },
      connections: { type: 'string', default: '10' },
      only: { type: 'string' },
      seed: { type: 'string' },
      'max-noise': { type: 'string', default: '25' },
      'max-wait': { type: 'string', default: '30' },
      'semi-space': { type: 'string', default: '16' },
      'cpu-prof': { type: 'string' },
      'plugin-root': { type: 'string', default: root },
      compare: { type: 'string' },
      out: { type: 'string', default: join(root, 'bench', 'results.md') },
      micro: { type: 'boolean', default: true },
      help: { type: 'boolean', default: false },
    },
    allowNegative: true,
  }).values
}

/** The bench's settings from its command line; a `UsageError` says what is wrong. */
export function readSettings (args: string[], root: string): BenchSettings {
  let values: ReturnType<typeof parse>
  try {
    values = parse(args, root)
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
  if (values.help) throw new UsageError('')

  return {
    rounds: integer('rounds', values.rounds, 1),
    durationSeconds: seconds('duration', values.duration, false),
    sliceSeconds: seconds('slice', values.slice, false),
    warmupSeconds: seconds('warmup', values.warmup, true),
    connections: integer('connections', values.connections, 1),
    maxNoisePercent: integer('max-noise', values['max-noise'], 0),
    maxQuietWaitSeconds: seconds('max-wait', values['max-wait'], true),
    semiSpaceMb: integer('semi-space', values['semi-space'], 0),
    seed: values.seed === undefined
      ? Math.floor(Math.random() * 2 ** 32)
      : integer('seed', values.seed, 0),
    variants: values.only === undefined
      ? [...variants]
      : values.only.split(',').map(variantNamed),
    cpuProfileDir: values['cpu-prof'],
    pluginRoot: values['plugin-root'],
    compareRoot: values.compare,
    out: values.out === 'none' ? undefined : values.out,
    micro: values.micro,
  }
}

/** A flag the bench cannot run with; `message` says which and why. */
export class UsageError extends Error {}

export function variantNamed (id: string): Variant {
  const variant = variants.find((v) => v.id === id)
  if (variant === undefined) throw new UsageError(`--only: there is no variant ${id}`)
  return variant
}

function seconds (name: string, text: string, zeroAllowed: boolean): number {
  const value = Number(text)
  if (!Number.isFinite(value) || value < 0 || (value === 0 && !zeroAllowed)) {
    const expected = zeroAllowed ? '0 or more' : 'above 0'
    throw new UsageError(`--${name} should be a number of seconds ${expected}, got ${text}`)
  }
  return value
}

function integer (name: string, text: string, min: number): number {
  const value = Number(text)
  if (!Number.isSafeInteger(value) || value < min) {
    throw new UsageError(`--${name} should be an integer of at least ${min}, got ${text}`)
  }
  return value
}
