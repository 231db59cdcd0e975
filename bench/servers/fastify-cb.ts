// The same route guarded by @fastify/circuit-breaker, with its circuit closed.
import Fastify from 'fastify'

import { readQuote } from './dependency.ts'
import { fastifyCircuitBreaker } from './fastify-circuit-breaker.ts'
import { HOST, OPEN_FOR_MS, ROUTE_PATH, serveMeasured } from './harness.ts'

const app = Fastify({ logger: false })
const guard = await fastifyCircuitBreaker(app, { threshold: 3, resetTimeout: OPEN_FOR_MS })
app.get(ROUTE_PATH, { preHandler: guard }, async () => readQuote())

await app.listen({ host: HOST, port: 0 })
serveMeasured(app.server, () => app.close())
