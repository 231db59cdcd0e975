import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus, release } from 'node:os'
import { join } from 'node:path'

const ticksPerSecond = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim()) || 100
const MICROS_PER_TICK = 1e6 / ticksPerSecond

/** Microseconds the whole machine spent busy so far (every core, any process). */
export function machineBusyMicros (): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]?.trim().split(/\s+/)
  // cpu user nice system idle iowait irq softirq steal ...
  const ticks = (fields ?? []).slice(1).map(Number)
  const total = ticks.reduce((sum, n) => sum + n, 0)
  return (total - (ticks[3] ?? 0) - (ticks[4] ?? 0)) * MICROS_PER_TICK
}

/** Microseconds of CPU (user + system) a process has used so far, from the kernel. */
export function processCpuMicros (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command name, which sits in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * MICROS_PER_TICK
}

export function describeMachine (root: string): string[] {
  const model = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m)?.[1] ??
    cpus()[0]?.model ?? 'unknown'
  const version = (name: string): string => {
    const file = join(root, 'node_modules', name, 'package.json')
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version
  }
  return [
    `- date: ${new Date().toISOString()}`,
    `- machine: ${cpus().length} cores (nproc), ${model}, Linux ${release()}, shared with ` +
      'other work',
    `- node ${process.version}; fastify ${version('fastify')}, cockatiel ` +
      `${version('cockatiel')}, @fastify/circuit-breaker ` +
      `${version('@fastify/circuit-breaker')}, opossum ${version('opossum')}, autocannon ` +
      `${version('autocannon')}`,
  ]
}
