// This plugin's success path: the route calls the dependency through execute().
import Fastify from 'fastify'

import { circuitBreaker } from './plugin.ts'
import { readQuote } from './dependency.ts'
import { HOST, OPEN_FOR_MS, ROUTE_PATH, serveMeasured } from './harness.ts'

const app = Fastify({ logger: false })
await app.register(circuitBreaker, { halfOpenAfter: OPEN_FOR_MS })
app.get(ROUTE_PATH, async () => app.circuitBreaker.execute(readQuote))

await app.listen({ host: HOST, port: 0 })
serveMeasured(app.server, () => app.close())
