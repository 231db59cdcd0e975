// The same dependency guarded by opossum, with its circuit closed. opossum's own call
// timeout is off, as this plugin has none unless asked.
import Fastify from 'fastify'
import CircuitBreaker from 'opossum'

import { readQuote, type Quote } from './dependency.ts'
import { HOST, OPEN_FOR_MS, ROUTE_PATH, serveMeasured } from './harness.ts'

// opossum calls a synchronous action too, and wraps its value in a promise, as execute()
// does; its types only ask for a function returning a promise.
const action = readQuote as unknown as () => Promise<Quote>
const breaker = new CircuitBreaker(action, { timeout: false, resetTimeout: OPEN_FOR_MS })

const app = Fastify({ logger: false })
app.get(ROUTE_PATH, async () => breaker.fire())

await app.listen({ host: HOST, port: 0 })
serveMeasured(app.server, async () => {
  breaker.shutdown()
  await app.close()
})
