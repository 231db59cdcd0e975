// The same dependency guarded by opossum, opened by failing calls. opossum rejects with
// a plain Error (code EOPENBREAKER); the route marks it a 503, as an app would.
import Fastify from 'fastify'
import CircuitBreaker from 'opossum'

import { failingFirst, type Quote } from './dependency.ts'
import { HOST, OPEN_FOR_MS, ROUTE_PATH, serveMeasured } from './harness.ts'

// opossum calls a synchronous action too, and wraps its value in a promise, as execute()
// does; its types only ask for a function returning a promise.
const action = failingFirst(3) as unknown as () => Promise<Quote>
const breaker = new CircuitBreaker(action, { timeout: false, resetTimeout: OPEN_FOR_MS })

const app = Fastify({ logger: false })
app.get(ROUTE_PATH, async () => breaker.fire().catch((error: unknown) => {
  throw Object.assign(error as Error, { statusCode: 503 })
}))

await app.listen({ host: HOST, port: 0 })
while (!breaker.opened) await breaker.fire().catch(() => {})
serveMeasured(app.server, async () => {
  breaker.shutdown()
  await app.close()
})
