// npm run bench: every variant of bench/variants.ts as a server pinned to core 0, driven
// by autocannon from core 1, over several rounds of fresh servers loaded in turn, in a
// shuffled order. The main figure is the server's own CPU time per response. README.md,
// "Performance", says how to read the output.
import { spawnSync } from 'node:child_process'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

import { canPin, pinSelf, startPinned } from './children.ts'
import { describeMachine } from './machine.ts'
import { LOAD_CORE, Measurer, SERVER_CORE } from './measure.ts'
import { readSettings, usage, UsageError, variantNamed, type BenchSettings } from './options.ts'
import {
  evaluateTargets,
  resultsTable,
  targetsTable,
  variantLegend,
  type Measurement,
} from './report.ts'
import { BUILT_PLUGIN_ENV } from './servers/harness.ts'
import { seededRandom } from './stats.ts'

const root = join(import.meta.dirname, '..')
/** The suffix of a variant that loads the plugin built from --compare. */
const COMPARED = '@compared'

/**
 * Builds the plugin's JavaScript where eslint and tsc do not look, for the servers to
 * load, from this checkout or another one (--plugin-root, --compare).
 */
function buildPlugin (pluginRoot: string, name: string): string {
  const outDir = join(root, 'node_modules', '.cache', 'fastify-breaker-bench', name)
  rmSync(outDir, { recursive: true, force: true })
  const tsc = spawnSync(join(root, 'node_modules', '.bin', 'tsc'), [
    '-p', join(pluginRoot, 'tsconfig.build.json'),
    '--outDir', outDir,
    '--declaration', 'false',
  ], { stdio: 'inherit' })
  if (tsc.status !== 0) throw new Error(`could not build ${pluginRoot}/plugins/circuit-breaker`)
  // Inside node_modules no package.json of the project applies: say these are ES modules.
  writeFileSync(join(outDir, 'package.json'), '{ "type": "module" }\n')
  return pathToFileURL(join(outDir, 'plugins', 'circuit-breaker', 'index.js')).href
}

function progress (settings: BenchSettings, m: Measurement): string {
  return `round ${m.round}/${settings.rounds} ${m.variant.padEnd(21)}` +
    `${m.cpuMicrosPerResponse.toFixed(1).padStart(7)} µs/response ` +
    `${m.requestsPerSecond.toFixed(0).padStart(6)} req/s  p99 ${m.latencyP99Ms} ms  ` +
    `RSS ${m.peakRssMb.toFixed(1)} MB  elsewhere ${m.busyElsewherePercent.toFixed(0)}%` +
    (m.unexpected + m.errors > 0 ? `  ${m.unexpected} WRONG, ${m.errors} ERRORS` : '')
}

async function runMicro (): Promise<string> {
  const micro = startPinned(SERVER_CORE, join(import.meta.dirname, 'micro.ts'), { stdout: 'pipe' })
  let output = ''
  micro.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const code = await new Promise<number | null>((resolve) => micro.once('exit', resolve))
  if (code !== 0) throw new Error(`bench/micro.ts exited with ${code}`)
  return output.trim()
}

function describeRun (settings: BenchSettings, waitedSeconds: number): string {
  const { rounds, variants, durationSeconds, warmupSeconds, connections, seed } = settings
  return [
    ...describeMachine(root),
    `- ${rounds} rounds × ${variants.length} variants, each a fresh server warmed for ` +
      `${warmupSeconds} s, then measured for ${durationSeconds} s in slices of ` +
      `${settings.sliceSeconds} s, in a shuffled order for each turn of slices ` +
      `(--seed ${seed}); ${connections} connections`,
    `- servers' young generation: ${settings.semiSpaceMb === 0
      ? 'sized by V8 (--semi-space 0)'
      : `${settings.semiSpaceMb} MB a semi-space (--semi-space ${settings.semiSpaceMb})`}`,
    `- waited ${waitedSeconds.toFixed(0)} s in all for other processes to calm down ` +
      `(--max-noise ${settings.maxNoisePercent}, --max-wait ${settings.maxQuietWaitSeconds})`,
    canPin
      ? `- server pinned to core ${SERVER_CORE}, autocannon to core ${LOAD_CORE} (taskset)`
      : '- not pinned: taskset is missing',
  ].join('\n')
}

async function main (settings: BenchSettings): Promise<void> {
  process.env[BUILT_PLUGIN_ENV] = buildPlugin(settings.pluginRoot, 'plugin')
  if (settings.compareRoot !== undefined) {
    const pluginUrl = buildPlugin(settings.compareRoot, 'compared')
    settings.variants.push(...settings.variants.filter((v) => v.id.startsWith('breaker-'))
      .map((v) => ({ ...v, id: `${v.id}${COMPARED}`, pluginUrl })))
  }
  pinSelf(LOAD_CORE)
  if (!canPin) console.warn('taskset is missing: the servers and the load generator float')

  const measurer = new Measurer(settings)
  const random = seededRandom(settings.seed)
  const measurements: Measurement[] = []
  try {
    await measurer.start(variantNamed('node-http'))
    for (let round = 1; round <= settings.rounds; round++) {
      const results = await measurer.round(round, random)
      measurements.push(...results)
      for (const measurement of results) console.log(progress(settings, measurement))
    }
  } finally {
    measurer.stop()
  }

  const targets = evaluateTargets(measurements)
  const sections = [
    '# Benchmark results',
    describeRun(settings, measurer.waitedSeconds),
    '## Per response: medians and (min..max) over rounds',
    resultsTable(settings.variants, measurements),
    variantLegend(settings.variants),
    'CPU: the server process\'s user + system time under load, divided by its ' +
      'responses. × bare Fastify: the median of same-round ratios. Elsewhere: CPU that ' +
      'other processes took on the machine during the window, in % of one core. ' +
      'Wrong/errors: responses with another status than the variant must answer, and ' +
      'connection errors or timeouts, over all rounds.',
  ]
  if (targets.length > 0) sections.push('## Targets', targetsTable(targets))
  if (settings.micro) sections.push('## One call (bench/micro.ts)', await runMicro())
  const text = sections.join('\n\n') + '\n'

  console.log('\n' + text)
  if (settings.out !== undefined) {
    writeFileSync(settings.out, text)
    console.log(`written to ${settings.out}`)
  }

  const wrong = measurements.reduce((sum, m) => sum + m.unexpected + m.errors, 0)
  if (wrong > 0) {
    console.error(`${wrong} responses were wrong or failed: these numbers are not to be trusted`)
    process.exitCode = 1
  }
}

try {
  await main(readSettings(process.argv.slice(2), root))
} catch (error) {
  if (!(error instanceof UsageError)) throw error
  if (error.message === '') {
    console.log(usage)
  } else {
    console.error(`${error.message}\n\n${usage}`)
    process.exitCode = 1
  }
}
