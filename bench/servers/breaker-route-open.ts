// This plugin's route protection while open: every request is turned away before its
// handler runs.
import Fastify from 'fastify'

import { circuitBreaker } from './plugin.ts'
import { readQuote } from './dependency.ts'
import { HOST, OPEN_FOR_MS, ROUTE_PATH, serveMeasured } from './harness.ts'
import { tripBreaker } from './trip.ts'

const app = Fastify({ logger: false })
await app.register(circuitBreaker, { halfOpenAfter: OPEN_FOR_MS })
app.get(ROUTE_PATH, { config: { circuitBreaker: true } }, async () => readQuote())

await app.listen({ host: HOST, port: 0 })
await tripBreaker(app.circuitBreaker)
serveMeasured(app.server, () => app.close())
