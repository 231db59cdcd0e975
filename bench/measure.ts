import type { ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { setTimeout } from 'node:timers/promises'

import { nextMessage, startPinned, stopChild } from './children.ts'
import type { LoadCommand, LoadReport } from './load.ts'
import { machineBusyMicros, processCpuMicros } from './machine.ts'
import type { BenchSettings } from './options.ts'
import type { Measurement } from './report.ts'
import {
  BUILT_PLUGIN_ENV,
  HOST,
  ROUTE_PATH,
  type ServerCommand,
  type ServerMessage,
} from './servers/harness.ts'
import { spread, shuffled } from './stats.ts'
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

interface Server {
  variant: Variant
  child: ChildProcess
  url: string
}

/** What one slice of load cost its server, and what the load generator saw. */
interface Slice {
  cpuMicros: { user: number, system: number }
  elsewhereMicros: number
  report: LoadReport
}

/**
 * Runs the variants' servers on one core and the load generator on the other. A round
 * starts a fresh server for every variant, warms each, then gives each its share of load
 * in short slices, in a new shuffled order each time: a variant and the one it is
 * compared with are measured seconds apart, while the machine runs at the same speed.
 */
export class Measurer {
  readonly #settings: BenchSettings
  readonly #load: ChildProcess
  readonly #serverArgs: string[]
  #quietWaitLeftMs: number

  constructor (settings: BenchSettings) {
    this.#settings = settings
    this.#load = startPinned(LOAD_CORE, join(import.meta.dirname, 'load.ts'))
    this.#quietWaitLeftMs = settings.maxQuietWaitSeconds * 1000
    // V8 doubles its young generation once enough bytes have survived its scavenges: under
    // load every server gets there, some seconds sooner than others, and each doubling adds
    // megabytes of RSS. Held at one size, the RSS compared is what each server keeps.
    const semiSpace = settings.semiSpaceMb
    this.#serverArgs = semiSpace === 0
      ? []
      : [`--min-semi-space-size=${semiSpace}`, `--max-semi-space-size=${semiSpace}`]
  }

  /** Waits for the load generator, and warms it so the first slice is not its victim. */
  async start (warmUpOn: Variant): Promise<void> {
    await nextMessage(this.#load, 'ready message', 30_000,
      (m): m is { ready: true } => typeof m === 'object' && m !== null && 'ready' in m)
    const [server] = await this.#startServers([warmUpOn], 0)
    try {
      await this.#drive({ url: (server as Server).url, durationSeconds: 2 })
    } finally {
      await this.#stopServers([server as Server])
    }
  }

  /** Seconds spent so far waiting for other processes to calm down. */
  get waitedSeconds (): number {
    return this.#settings.maxQuietWaitSeconds - Math.max(0, this.#quietWaitLeftMs) / 1000
  }

  stop (): void {
    if (this.#load.connected) this.#load.disconnect()
  }

  /** One round: every variant's server started afresh, warmed, then measured in slices. */
  async round (round: number, random: () => number): Promise<Measurement[]> {
    const { variants, durationSeconds, sliceSeconds, warmupSeconds } = this.#settings
    const servers = await this.#startServers(variants, round)
    try {
      for (const { url } of servers) {
        if (warmupSeconds > 0) await this.#drive({ url, durationSeconds: warmupSeconds })
      }

      const slices = new Map<Server, Slice[]>(servers.map((server) => [server, []]))
      const sliceCount = Math.max(1, Math.round(durationSeconds / sliceSeconds))
      for (let i = 0; i < sliceCount; i++) {
        await this.#waitForQuiet()
        for (const server of shuffled(servers, random)) {
          slices.get(server)?.push(await this.#measureSlice(server, sliceSeconds))
        }
      }

      return await Promise.all(servers.map(async (server) => {
        const { maxRssKb } = await sample(server.child)
        return summarize(server.variant, round, slices.get(server) ?? [], maxRssKb)
      }))
    } finally {
      await this.#stopServers(servers)
    }
  }

  async #measureSlice (server: Server, durationSeconds: number): Promise<Slice> {
    const loadPid = this.#load.pid as number
    const busyBefore = machineBusyMicros()
    const loadBefore = processCpuMicros(loadPid)
    const ownBefore = process.cpuUsage()
    const before = await sample(server.child)
    const report = await this.#drive({ url: server.url, durationSeconds })
    const after = await sample(server.child)
    const own = process.cpuUsage(ownBefore)
    const loadMicros = processCpuMicros(loadPid) - loadBefore
    const busyMicros = machineBusyMicros() - busyBefore

    const user = after.cpuMicros.user - before.cpuMicros.user
    const system = after.cpuMicros.system - before.cpuMicros.system
    return {
      cpuMicros: { user, system },
      elsewhereMicros: busyMicros - user - system - loadMicros - own.user - own.system,
      report,
    }
  }

  /**
   * Waits, within the run's budget, until other processes leave the machine alone: on a
   * shared machine their bursts come and go, and a slice measured in one is worth little.
   */
  async #waitForQuiet (): Promise<void> {
    const probeMs = 200
    while (this.#quietWaitLeftMs > 0) {
      const busyBefore = machineBusyMicros()
      await setTimeout(probeMs)
      const busyPercent = (machineBusyMicros() - busyBefore) / (probeMs * 1000) * 100
      if (busyPercent <= this.#settings.maxNoisePercent) return
      await setTimeout(1000)
      this.#quietWaitLeftMs -= probeMs + 1000
    }
  }

  async #startServers (variants: Variant[], round: number): Promise<Server[]> {
    const started: ChildProcess[] = []
    try {
      return await Promise.all(variants.map(async (variant) => {
        const script = join(import.meta.dirname, 'servers', variant.script)
        const child = startPinned(SERVER_CORE, script, {
          nodeArgs: [...this.#serverArgs, ...this.#profileArgs(variant, round)],
          env: variant.pluginUrl === undefined ? {} : { [BUILT_PLUGIN_ENV]: variant.pluginUrl },
        })
        started.push(child)
        const { port } = await nextMessage(child, 'ready message', 60_000, isReady)
        const url = `http://${HOST}:${port}${ROUTE_PATH}`
        await probe(url, variant)
        return { variant, child, url }
      }))
    } catch (error) {
      await Promise.all(started.map((child) => stopServer(child)))
      throw error
    }
  }

  #profileArgs (variant: Variant, round: number): string[] {
    const dir = this.#settings.cpuProfileDir
    if (dir === undefined || round === 0) return []
    return ['--cpu-prof', `--cpu-prof-dir=${dir}`,
      `--cpu-prof-name=${variant.id}.round-${round}.cpuprofile`]
  }

  async #stopServers (servers: Server[]): Promise<void> {
    await Promise.all(servers.map((server) => stopServer(server.child)))
  }

  async #drive (command: Omit<LoadCommand, 'connections'>): Promise<LoadReport> {
    this.#load.send({ ...command, connections: this.#settings.connections } satisfies LoadCommand)
    const timeoutMs = (command.durationSeconds + 30) * 1000
    return nextMessage(this.#load, 'load report', timeoutMs, isLoadReport)
  }
}

function summarize (
  variant: Variant,
  round: number,
  slices: Slice[],
  maxRssKb: number
): Measurement {
  const sum = (pick: (slice: Slice) => number): number =>
    slices.reduce((total, slice) => total + pick(slice), 0)
  const responses = sum((s) => s.report.responses)
  const seconds = sum((s) => s.report.durationSeconds)
  const user = sum((s) => s.cpuMicros.user)
  const system = sum((s) => s.cpuMicros.system)
  const expectedStatus = String(variant.expected.status)
  const expected = sum((s) => s.report.statusCounts[expectedStatus] ?? 0)
  const perResponse = (micros: number): number => micros / Math.max(responses, 1)
  return {
    variant: variant.id,
    round,
    responses,
    cpuMicrosPerResponse: perResponse(user + system),
    userMicrosPerResponse: perResponse(user),
    systemMicrosPerResponse: perResponse(system),
    requestsPerSecond: responses / seconds,
    latencyP99Ms: spread(slices.map((s) => s.report.latencyP99Ms)).median,
    peakRssMb: maxRssKb / 1024,
    busyElsewherePercent: Math.max(0, sum((s) => s.elsewhereMicros) / (seconds * 1e6) * 100),
    unexpected: responses - expected,
    errors: sum((s) => s.report.errors + s.report.timeouts),
  }
}

async function sample (server: ChildProcess): Promise<Sample> {
  server.send({ type: 'sample' } satisfies ServerCommand)
  return nextMessage(server, 'sample', 10_000, isSample)
}

async function stopServer (child: ChildProcess): Promise<void> {
  await stopChild(child, 10_000, () => {
    if (child.connected) child.send({ type: 'exit' } satisfies ServerCommand)
  })
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
