import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

interface TestContext {
  teardown (fn: () => unknown): void
}

/** An HTTP answer the fake upstream gives in full. */
export interface UpstreamReply {
  status: number
  headers?: Record<string, string>
  body?: string
}

/** The ways the fake upstream can fail to answer. */
const misbehaviours = {
  /** Takes the request and never answers. */
  hang: () => {},
  /** Sends the headers and the start of a body, never the rest. */
  stall: (_request: IncomingMessage, response: ServerResponse) => {
    response.writeHead(200, { 'content-type': 'text/plain' }).write('the start of')
  },
  /** Resets the connection (TCP RST). */
  reset: (request: IncomingMessage) => { request.socket.resetAndDestroy() },
  /** Closes the connection without a word. */
  close: (request: IncomingMessage) => { request.socket.destroy() },
  /** Answers with bytes that are not HTTP. */
  garbage: (request: IncomingMessage) => { request.socket.end('HELLO THERE\r\n\r\n') },
}

export type UpstreamBehaviour = UpstreamReply | keyof typeof misbehaviours

export interface FakeUpstream {
  /** `http://127.0.0.1:<port>` */
  origin: string
  /** Method and URL of every request it received, in order: `GET /prices`. */
  requests: string[]
  /** Every connection opened to it, in order. */
  connections: Socket[]
  /** Sets how it treats the requests that follow. */
  behave (behaviour: UpstreamBehaviour): void
  /** Stops listening and drops its connections, so new ones are refused. */
  stop (): Promise<void>
}

/**
 * A real HTTP server on 127.0.0.1 standing in for the upstream, stopped when the test
 * ends. Until told otherwise it answers 200 `{"price":42}`.
 */
export async function fakeUpstream (t: TestContext): Promise<FakeUpstream> {
  let behaviour: UpstreamBehaviour = {
    status: 200,
    headers: { 'content-type': 'application/json' },
    body: '{"price":42}',
  }
  const requests: string[] = []
  const connections: Socket[] = []

  const server = createServer((request, response) => {
    requests.push(`${request.method} ${request.url}`)
    if (typeof behaviour === 'string') misbehaviours[behaviour](request, response)
    else response.writeHead(behaviour.status, behaviour.headers).end(behaviour.body)
  })
  server.on('connection', (socket: Socket) => connections.push(socket))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')

  const stop = () => new Promise<void>((resolve) => {
    // The callback comes with an error when already stopped, which is fine here.
    server.close(() => resolve())
    server.closeAllConnections()
  })
  t.teardown(stop)

  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    connections,
    behave: (next) => { behaviour = next },
    stop,
  }
}
