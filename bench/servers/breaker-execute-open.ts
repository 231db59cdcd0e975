// This plugin's rejection through execute(): the circuit is open for the whole run, and
// the CircuitOpenError goes to Fastify's default error handler, which answers 503.
import Fastify from 'fastify'

import { circuitBreaker } from './plugin.ts'
import { readQuote } from './dependency.ts'
import { HOST, OPEN_FOR_MS, ROUTE_PATH, serveMeasured } from './harness.ts'
import { tripBreaker } from './trip.ts'

const app = Fastify({ logger: false })
await app.register(circuitBreaker, { halfOpenAfter: OPEN_FOR_MS })
app.get(ROUTE_PATH, async () => app.circuitBreaker.execute(readQuote))

await app.listen({ host: HOST, port: 0 })
await tripBreaker(app.circuitBreaker)
serveMeasured(app.server, () => app.close())
