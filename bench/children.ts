import { spawn, spawnSync, type ChildProcess } from 'node:child_process'

/** Whether `taskset` can pin processes here; without it the children float. */
export const canPin = spawnSync('taskset', ['-c', '0', 'true']).status === 0

/**
 * Starts a Node script as a child with an IPC channel, pinned to one core when it can
 * be. taskset execs Node, so the child's pid is Node's own and every thread it starts
 * (GC helpers included) stays on that core.
 */
export function startPinned (core: number, script: string, options: {
  nodeArgs?: string[]
  env?: Record<string, string>
  stdout?: 'inherit' | 'pipe'
} = {}): ChildProcess {
  const node = [process.execPath, ...options.nodeArgs ?? [], script]
  const [command, ...args] = canPin ? ['taskset', '-c', String(core), ...node] : node
  return spawn(command as string, args, {
    stdio: ['ignore', options.stdout ?? 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...options.env },
  })
}

/** Pins this very process, so the core of the servers is theirs alone. */
export function pinSelf (core: number): void {
  if (canPin) spawnSync('taskset', ['-a', '-p', '-c', String(core), String(process.pid)])
}

/** The next IPC message of `child` that `accept` takes, or a failure after `timeoutMs`. */
export function nextMessage<T> (child: ChildProcess, what: string, timeoutMs: number,
  accept: (message: unknown) => message is T): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`no ${what} after ${timeoutMs} ms`)), timeoutMs)
    const onMessage = (message: unknown): void => {
      if (!accept(message)) return
      stop()
      resolve(message)
    }
    const onExit = (code: number | null): void => {
      fail(new Error(`the child exited (code ${code}) before its ${what}`))
    }
    function stop (): void {
      clearTimeout(timer)
      child.off('message', onMessage)
      child.off('exit', onExit)
    }
    function fail (error: Error): void {
      stop()
      reject(error)
    }
    child.on('message', onMessage)
    child.on('exit', onExit)
  })
}

/** Asks a child to exit, and kills it if it has not within `timeoutMs`. */
export async function stopChild (child: ChildProcess, timeoutMs: number,
  request: () => void): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  request()
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  await exited
  clearTimeout(timer)
}
