// The load generator, run as a child pinned to its own core: it drives one URL with
// autocannon for the given time whenever the bench asks, and answers the counts.
import autocannon from 'autocannon'

export interface LoadCommand {
  url: string
  durationSeconds: number
  connections: number
}

export interface LoadReport {
  responses: number
  durationSeconds: number
  statusCounts: Record<string, number>
  errors: number
  timeouts: number
  latencyP99Ms: number
}

async function drive (command: LoadCommand): Promise<LoadReport> {
  const result = await autocannon({
    url: command.url,
    duration: command.durationSeconds,
    connections: command.connections,
    pipelining: 1,
    // autocannon checks its deadline when it samples, every second by default: a slice of
    // half a second would last a whole one.
    sampleInt: 100,
  })
  const statusCounts: Record<string, number> = {}
  for (const [status, { count }] of Object.entries(result.statusCodeStats ?? {})) {
    statusCounts[status] = count ?? 0
  }
  return {
    responses: Object.values(statusCounts).reduce((sum, count) => sum + count, 0),
    durationSeconds: (result.finish.getTime() - result.start.getTime()) / 1000,
    statusCounts,
    errors: result.errors,
    timeouts: result.timeouts,
    latencyP99Ms: result.latency.p99,
  }
}

const send = process.send?.bind(process)
if (send === undefined) throw new Error('bench/load.ts runs as a child of bench/run.ts')

process.on('message', async (command: LoadCommand) => {
  send(await drive(command))
})
process.on('disconnect', () => process.exit(0))
send({ ready: true })
