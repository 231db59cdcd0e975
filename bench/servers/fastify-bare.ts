// The baseline every ratio is taken against: a Fastify route calling the dependency.
import Fastify from 'fastify'

import { readQuote } from './dependency.ts'
import { HOST, ROUTE_PATH, serveMeasured } from './harness.ts'

const app = Fastify({ logger: false })
app.get(ROUTE_PATH, async () => readQuote())

await app.listen({ host: HOST, port: 0 })
serveMeasured(app.server, () => app.close())
