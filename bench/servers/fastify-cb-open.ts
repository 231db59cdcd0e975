// The same route guarded by @fastify/circuit-breaker, opened by three failing requests.
import Fastify from 'fastify'

import { failingFirst } from './dependency.ts'
import { fastifyCircuitBreaker } from './fastify-circuit-breaker.ts'
import { HOST, OPEN_FOR_MS, ROUTE_PATH, serveMeasured } from './harness.ts'

const threshold = 3
const dependency = failingFirst(threshold)

const app = Fastify({ logger: false })
const guard = await fastifyCircuitBreaker(app, { threshold, resetTimeout: OPEN_FOR_MS })
app.get(ROUTE_PATH, { preHandler: guard }, async () => dependency())

await app.listen({ host: HOST, port: 0 })
for (let i = 0; i < threshold; i++) await app.inject(ROUTE_PATH)
serveMeasured(app.server, () => app.close())
