// The baseline of the open variants: a bare Fastify route answering the very same 503
// (status, headers and body) as an open breaker, by throwing an HTTP error.
import Fastify from 'fastify'

import { HOST, OPEN_FOR_MS, ROUTE_PATH, serveMeasured } from './harness.ts'

class ServiceUnavailable extends Error {
  readonly statusCode = 503
  readonly code = 'FST_BREAKER_CIRCUIT_OPEN'
  readonly headers = { 'retry-after': String(OPEN_FOR_MS / 1000) }
}

const app = Fastify({ logger: false })
app.get(ROUTE_PATH, async () => {
  throw new ServiceUnavailable('circuit breaker "default" is open')
})

await app.listen({ host: HOST, port: 0 })
serveMeasured(app.server, () => app.close())
