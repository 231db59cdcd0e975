/**
 * Heap hygiene: a million calls through one breaker, and ten thousand per-key breakers
 * made and evicted, must leave the heap where it started.
 *
 *   node --expose-gc bench/heap-hygiene.ts      (npm run test:hygiene)
 *
 * The breakers run as the service runs them: with the transition log, the event history
 * and the metrics listening to every breaker, per-key ones included. The heap is measured
 * after forced collections, once after a warm-up (so that compiled code, the event ring
 * and the live per-key breakers are in the baseline) and once after the work. Exits 1
 * when it grew by more than THRESHOLD_BYTES.
 */
import Fastify from 'fastify'

import circuitBreaker from '../plugins/circuit-breaker/index.ts'
import eventHistory from '../plugins/event-history.ts'
import metrics from '../plugins/metrics.ts'

const CALLS = 1_000_000
const KEYS = 10_000
const MAX_KEYS = 100
/** Calls in flight at once: enough to meet a half-open circuit busy with its trial. */
const BATCH = 1_000
/** One call in this many fails: often enough to open the circuit now and then. */
const FAILURE_EVERY = 7

// Growth allowed. After forced collections the heap moves by well under 1 MB from run to
// run. A leak that matters is far above 5 MB: one number kept per call is 8 MB over a
// million calls, and an evicted per-key breaker still referenced (with its listeners and
// metric series) is about 3 KB, so close to 30 MB over ten thousand keys.
const THRESHOLD_BYTES = 5 * 1024 * 1024

const collect = globalThis.gc
if (collect === undefined) {
  console.error('run with node --expose-gc bench/heap-hygiene.ts')
  process.exit(2)
}

const app = Fastify({ logger: false })
await app.register(circuitBreaker, {
  threshold: 3,
  // Straight to half-open: every kind of transition happens, many times over.
  halfOpenAfter: 0,
  // Each call arms a deadline and an abort signal, the likeliest things to leak.
  timeout: 1_000,
  keyedBreakers: { tenant: { threshold: 2, halfOpenAfter: 0, maxKeys: MAX_KEYS } },
})
await app.register(eventHistory, { size: 200 })
await app.register(metrics)
await app.ready()

const breaker = app.circuitBreaker
const tenants = app.circuitBreakers.keyed('tenant')
let count = 0
const dependency = async (): Promise<number> => {
  count++
  if (count % FAILURE_EVERY === 0) throw new Error('dependency down')
  return count
}

/** Runs `calls` calls through the default breaker, `BATCH` at a time. */
async function callMany (calls: number): Promise<void> {
  for (let done = 0; done < calls; done += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, calls - done) },
      () => breaker.execute(dependency).catch(() => undefined))
    await Promise.all(batch)
  }
}

/** Makes a breaker for each of `keys` new keys, opening every other one. */
async function churnKeys (keys: number, first: number): Promise<void> {
  for (let key = first; key < first + keys; key++) {
    const tenant = tenants.get(`tenant-${key}`)
    await tenant.execute(() => 'ok')
    if (key % 2 === 0) {
      for (let failure = 0; failure < 2; failure++) {
        await tenant.execute(() => { throw new Error('tenant down') }).catch(() => undefined)
      }
    }
  }
}

async function settledHeapBytes (): Promise<number> {
  // Several rounds, with turns of the event loop between them, so that finalizers and
  // weak references are processed and what they held is collected too.
  for (let round = 0; round < 4; round++) {
    collect!()
    await new Promise((resolve) => setImmediate(resolve))
  }
  return process.memoryUsage().heapUsed
}

const mebibytes = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(2)} MB`

await callMany(20_000)
await churnKeys(2 * MAX_KEYS, 0)
const baseline = await settledHeapBytes()

const started = performance.now()
await callMany(CALLS)
const callsDone = performance.now()
await churnKeys(KEYS, 2 * MAX_KEYS)
const keysDone = performance.now()
const after = await settledHeapBytes()
const alive = tenants.size
await app.close()

const delta = after - baseline
const seconds = (from: number, to: number): string => `${((to - from) / 1000).toFixed(1)} s`
console.log(`${CALLS} calls through one breaker in ${seconds(started, callsDone)}, ` +
  `${KEYS} per-key breakers (at most ${MAX_KEYS} kept) in ${seconds(callsDone, keysDone)}`)
console.log(`breaker: ${breaker.snapshot().state}, per-key breakers alive: ${alive}`)
console.log(`heap baseline ${mebibytes(baseline)}, after ${mebibytes(after)}, ` +
  `delta ${mebibytes(delta)} (threshold ${mebibytes(THRESHOLD_BYTES)})`)

if (delta > THRESHOLD_BYTES) {
  console.error('the heap grew past the threshold: something is kept per call or per key')
  process.exit(1)
}
