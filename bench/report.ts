import { spread, type Spread } from './stats.ts'
import { BARE, BARE_503, type Variant } from './variants.ts'

/** One variant's numbers over one load window. */
export interface Measurement {
  variant: string
  round: number
  responses: number
  /** Server CPU time (user + system) per response, in microseconds. */
  cpuMicrosPerResponse: number
  userMicrosPerResponse: number
  systemMicrosPerResponse: number
  requestsPerSecond: number
  latencyP99Ms: number
  peakRssMb: number
  /** CPU that other processes took meanwhile, in % of one core: how noisy the window was. */
  busyElsewherePercent: number
  /** Responses whose status was not the one the variant must answer. */
  unexpected: number
  /** Connection errors and timeouts seen by the load generator. */
  errors: number
}

interface Target {
  description: string
  variant: string
  baseline: string
  /** `cpu`: same-round ratio of CPU per response; `rss`: same-round MB of peak RSS above. */
  kind: 'cpu' | 'rss'
  limit: number
}

export interface TargetResult {
  target: Target
  measured: Spread
  pass: boolean
}

const breakerVariants = ['breaker-execute', 'breaker-route', 'breaker-execute-open',
  'breaker-route-open']

const targets: Target[] = [
  ...breakerVariants.slice(0, 2).map((variant): Target => ({
    description: 'success path CPU/response', variant, baseline: BARE, kind: 'cpu', limit: 1.05,
  })),
  ...breakerVariants.slice(2).map((variant): Target => ({
    description: 'rejection CPU/response', variant, baseline: BARE_503, kind: 'cpu', limit: 0.6,
  })),
  ...breakerVariants.map((variant): Target => ({
    description: 'peak RSS under load', variant, baseline: BARE, kind: 'rss', limit: 5,
  })),
]

/** How `variant` compared with `baseline` in each round both were measured in. */
function sameRound (measurements: Measurement[], variant: string, baseline: string,
  compare: (measured: Measurement, base: Measurement) => number): number[] {
  return measurements.filter((m) => m.variant === variant).flatMap((measured) => {
    const base = measurements.find((m) => m.variant === baseline && m.round === measured.round)
    return base === undefined ? [] : [compare(measured, base)]
  })
}

const cpuRatio = (measured: Measurement, base: Measurement): number =>
  measured.cpuMicrosPerResponse / base.cpuMicrosPerResponse
const rssAbove = (measured: Measurement, base: Measurement): number =>
  measured.peakRssMb - base.peakRssMb

export function evaluateTargets (measurements: Measurement[]): TargetResult[] {
  return targets.flatMap((target) => {
    const compare = target.kind === 'cpu' ? cpuRatio : rssAbove
    const values = sameRound(measurements, target.variant, target.baseline, compare)
    if (values.length === 0) return []
    const measured = spread(values)
    return [{ target, measured, pass: measured.median <= target.limit }]
  })
}

function range (values: Spread, digits: number, sign = ''): string {
  const f = (n: number): string => `${sign !== '' && n >= 0 ? sign : ''}${n.toFixed(digits)}`
  return `${f(values.median)} (${f(values.min)}..${f(values.max)})`
}

export function resultsTable (variants: Variant[], measurements: Measurement[]): string {
  const lines = [
    '| variant | CPU µs/response | × bare Fastify | req/s | p99 ms | peak RSS MB | ' +
      'elsewhere % | wrong/errors |',
    '|---|---|---|---|---|---|---|---|',
  ]
  for (const variant of variants) {
    const mine = measurements.filter((m) => m.variant === variant.id)
    if (mine.length === 0) continue
    const of = (pick: (m: Measurement) => number): Spread => spread(mine.map(pick))
    const ratios = sameRound(measurements, variant.id, BARE, cpuRatio)
    const wrong = mine.reduce((sum, m) => sum + m.unexpected, 0)
    const errors = mine.reduce((sum, m) => sum + m.errors, 0)
    lines.push('| ' + [
      variant.id,
      range(of((m) => m.cpuMicrosPerResponse), 1),
      ratios.length > 0 ? range(spread(ratios), 2) : '-',
      range(of((m) => m.requestsPerSecond), 0),
      range(of((m) => m.latencyP99Ms), 0),
      range(of((m) => m.peakRssMb), 1),
      range(of((m) => m.busyElsewherePercent), 0),
      `${wrong}/${errors}`,
    ].join(' | ') + ' |')
  }
  return lines.join('\n')
}

export function variantLegend (variants: Variant[]): string {
  return variants.map((variant) => `- ${variant.id}: ${variant.description}`).join('\n')
}

export function targetsTable (results: TargetResult[]): string {
  const lines = [
    '| target | variant | against | limit | measured median (min..max) | verdict |',
    '|---|---|---|---|---|---|',
  ]
  for (const { target, measured, pass } of results) {
    const cpu = target.kind === 'cpu'
    lines.push('| ' + [
      target.description,
      target.variant,
      target.baseline,
      cpu ? `≤ ${target.limit}×` : `≤ +${target.limit} MB`,
      cpu ? `${range(measured, 2)}×` : `${range(measured, 1, '+')} MB`,
      pass ? 'PASS' : 'MISS',
    ].join(' | ') + ' |')
  }
  return lines.join('\n')
}
