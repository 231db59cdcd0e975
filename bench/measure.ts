import type { ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { setTimeout } from 'node:timers/promises'

import { nextMessage, startPinned, stopChild } from './children.ts'
import type { LoadCommand, LoadReport } from './load.ts'
import { machineBusyMicros, processCpuMicros } from './machine.ts'
import type { BenchSettings } from './options.ts'
import type { Measurement } from './report.ts'
import { HOST, ROUTE_PATH, type ServerCommand, type ServerMessage } from './servers/harness.ts'
import type { Variant } from './variants.ts'

export const SERVER_CORE = 0
export const LOAD_CORE = 1

type Sample = Extract<ServerMessage, { type: 'sample' }>

const isLoadReport = (message: unknown): message is LoadReport =>
  typeof message === 'object' && message !== null && 'responses' in message
const isSample = (message: unknown): message is Sample =>
  (message as ServerMessage | undefined)?.type === 'sample'
const isReady = (message: unknown): message is Extract<ServerMessage, { type: 'ready' }> =>
  (message as ServerMessage | undefined)?.type === 'ready'

/** Runs the variants' servers on one core and the load generator on the other. */
export class Measurer {
  readonly #settings: BenchSettings
  readonly #load: ChildProcess
  readonly #serverArgs: string[]
  // A window measured again because the machine was busy elsewhere: at most one in five.
  #remeasuresLeft: number
  #quietWaitLeftMs: number

  constructor (settings: BenchSettings) {
    this.#settings = settings
    this.#load = startPinned(LOAD_CORE, join(import.meta.dirname, 'load.ts'))
    this.#remeasuresLeft = Math.ceil(settings.rounds * settings.variants.length / 5)
    this.#quietWaitLeftMs = settings.maxQuietWaitSeconds * 1000
    // V8 doubles its young generation once enough bytes have survived its scavenges: under
    // load every server gets there, some seconds sooner than others, and each doubling adds
    // megabytes of RSS. Held at one size, the RSS compared is what each server keeps.
    const semiSpace = settings.semiSpaceMb
    this.#serverArgs = semiSpace === 0
      ? []
      : [`--min-semi-space-size=${semiSpace}`, `--max-semi-space-size=${semiSpace}`]
  }

  /** Waits for the load generator, and warms it so the first variant is not its victim. */
  async start (warmUpOn: Variant): Promise<void> {
    await nextMessage(this.#load, 'ready message', 30_000,
      (m): m is { ready: true } => typeof m === 'object' && m !== null && 'ready' in m)
    await this.#withServer(warmUpOn, [], (_server, url) =>
      this.#drive({ url, connections: this.#settings.connections, durationSeconds: 2 }))
  }

  /** Seconds spent so far waiting for other processes to calm down. */
  get waitedSeconds (): number {
    return this.#settings.maxQuietWaitSeconds - Math.max(0, this.#quietWaitLeftMs) / 1000
  }

  stop (): void {
    if (this.#load.connected) this.#load.disconnect()
  }

  /** Measures a variant, again if other work on the machine took a lot of CPU meanwhile. */
  async measure (variant: Variant, round: number): Promise<Measurement> {
    let best = await this.#measureOnce(variant, round)
    while (best.busyElsewherePercent > this.#settings.maxNoisePercent && this.#remeasuresLeft > 0) {
      this.#remeasuresLeft--
      console.log(`  other work took ${best.busyElsewherePercent.toFixed(0)}% of a core: ` +
        `measuring ${variant.id} again`)
      const again = await this.#measureOnce(variant, round)
      if (again.busyElsewherePercent >= best.busyElsewherePercent) break
      best = again
    }
    return best
  }

  async #measureOnce (variant: Variant, round: number): Promise<Measurement> {
    const { cpuProfileDir, connections, durationSeconds, warmupSeconds } = this.#settings
    const profile = cpuProfileDir === undefined
      ? []
      : ['--cpu-prof', `--cpu-prof-dir=${cpuProfileDir}`,
          `--cpu-prof-name=${variant.id}.round-${round}.cpuprofile`]

    return this.#withServer(variant, profile, async (server, url) => {
      await this.#waitForQuiet()
      if (warmupSeconds > 0) await this.#drive({ url, connections, durationSeconds: warmupSeconds })

      const loadPid = this.#load.pid as number
      const busyBefore = machineBusyMicros()
      const loadBefore = processCpuMicros(loadPid)
      const ownBefore = process.cpuUsage()
      const before = await sample(server)
      const report = await this.#drive({ url, connections, durationSeconds })
      const after = await sample(server)
      const own = process.cpuUsage(ownBefore)
      const loadMicros = processCpuMicros(loadPid) - loadBefore
      const busyMicros = machineBusyMicros() - busyBefore

      const user = after.cpuMicros.user - before.cpuMicros.user
      const system = after.cpuMicros.system - before.cpuMicros.system
      const elsewhere = busyMicros - user - system - loadMicros - own.user - own.system
      const responses = Math.max(report.responses, 1)
      const expected = report.statusCounts[String(variant.expected.status)] ?? 0
      return {
        variant: variant.id,
        round,
        responses: report.responses,
        cpuMicrosPerResponse: (user + system) / responses,
        userMicrosPerResponse: user / responses,
        systemMicrosPerResponse: system / responses,
        requestsPerSecond: report.responses / report.durationSeconds,
        latencyP99Ms: report.latencyP99Ms,
        peakRssMb: after.maxRssKb / 1024,
        busyElsewherePercent: Math.max(0, elsewhere / (report.durationSeconds * 1e6) * 100),
        unexpected: report.responses - expected,
        errors: report.errors + report.timeouts,
      }
    })
  }

  /**
   * Waits, within the run's budget, until other processes leave the machine alone: on a
   * shared machine their bursts come and go, and a window measured in one is worth little.
   */
  async #waitForQuiet (): Promise<void> {
    const probeMs = 250
    while (this.#quietWaitLeftMs > 0) {
      const busyBefore = machineBusyMicros()
      await setTimeout(probeMs)
      const busyPercent = (machineBusyMicros() - busyBefore) / (probeMs * 1000) * 100
      if (busyPercent <= this.#settings.maxNoisePercent) return
      await setTimeout(1000)
      this.#quietWaitLeftMs -= probeMs + 1000
    }
  }

  async #withServer<T> (variant: Variant, nodeArgs: string[],
    use: (server: ChildProcess, url: string) => Promise<T>): Promise<T> {
    const script = join(import.meta.dirname, 'servers', variant.script)
    const server = startPinned(SERVER_CORE, script, [...this.#serverArgs, ...nodeArgs])
    try {
      const { port } = await nextMessage(server, 'ready message', 30_000, isReady)
      const url = `http://${HOST}:${port}${ROUTE_PATH}`
      await probe(url, variant)
      return await use(server, url)
    } finally {
      await stopChild(server, 10_000, () => {
        if (server.connected) server.send({ type: 'exit' } satisfies ServerCommand)
      })
    }
  }

  async #drive (command: LoadCommand): Promise<LoadReport> {
    this.#load.send(command)
    const timeoutMs = (command.durationSeconds + 30) * 1000
    return nextMessage(this.#load, 'load report', timeoutMs, isLoadReport)
  }
}

async function sample (server: ChildProcess): Promise<Sample> {
  server.send({ type: 'sample' } satisfies ServerCommand)
  return nextMessage(server, 'sample', 10_000, isSample)
}

/** Fails unless the variant answers as it must: its numbers would mean nothing. */
async function probe (url: string, variant: Variant): Promise<void> {
  const response = await fetch(url)
  const body = await response.text()
  const { expected } = variant
  const problems: string[] = []
  if (response.status !== expected.status) problems.push(`status ${response.status}`)
  if (expected.body !== undefined && body !== expected.body) problems.push(`body ${body}`)
  for (const [name, value] of Object.entries(expected.headers ?? {})) {
    const got = response.headers.get(name)
    if (got !== value) problems.push(`${name}: ${got}`)
  }
  if (problems.length > 0) {
    throw new Error(`${variant.id} answered wrongly (${problems.join(', ')}); expected ` +
      JSON.stringify(expected))
  }
}
