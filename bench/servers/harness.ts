import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** What the bench asks a server child over IPC, and what the child answers. */
export type ServerCommand = { type: 'sample' } | { type: 'exit' }

export type ServerMessage =
  | { type: 'ready', port: number }
  | { type: 'sample', cpuMicros: { user: number, system: number }, maxRssKb: number }

export const ROUTE_PATH = '/quote'
export const HOST = '127.0.0.1'

/** Held open for an hour: no trial can end an "open" run, however long it lasts. */
export const OPEN_FOR_MS = 3_600_000

/**
 * Tells the bench which port the server listens on, then answers its samples of the
 * process's own CPU time and peak RSS, so the bench can read them around a load window.
 * A child whose bench went away exits rather than serving on.
 */
export function serveMeasured (server: Server, close: () => Promise<void> | void): void {
  const send = process.send?.bind(process)
  if (send === undefined) {
    console.log(`listening on http://${HOST}:${port(server)}${ROUTE_PATH} (not under the bench)`)
    return
  }

  process.on('message', async (command: ServerCommand) => {
    if (command.type === 'sample') {
      const message: ServerMessage = {
        type: 'sample',
        cpuMicros: process.cpuUsage(),
        maxRssKb: process.resourceUsage().maxRSS,
      }
      send(message)
    } else {
      await close()
      process.exit(0)
    }
  })
  process.on('disconnect', () => process.exit(0))
  send({ type: 'ready', port: port(server) } satisfies ServerMessage)
}

function port (server: Server): number {
  return (server.address() as AddressInfo).port
}

/** Where bench/run.ts tells its servers the built plugin is (see servers/plugin.ts). */
export const BUILT_PLUGIN_ENV = 'BENCH_BUILT_PLUGIN'
