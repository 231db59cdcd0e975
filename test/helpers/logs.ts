import { Writable } from 'node:stream'

export interface LogLine {
  level: number
  msg: string
  [field: string]: unknown
}

/** A pino destination that keeps every line, parsed, for assertions. */
export function logCapture (): { stream: Writable, lines: LogLine[] } {
  const lines: LogLine[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line !== '') lines.push(JSON.parse(line) as LogLine)
      }
      done()
    },
  })
  return { stream, lines }
}

export const LEVELS = { info: 30, warn: 40, error: 50 } as const

/** The lines that log a change of state, in order. */
export function transitions (logs: LogLine[]): LogLine[] {
  return logs.filter((line) => 'to' in line)
}
