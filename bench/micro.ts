// npm run bench:micro: what one call through the breaker costs, next to calling the
// dependency directly, with the circuit closed and open. Each sample is a batch of calls
// awaited one after another, so timer resolution and tinybench's own await are spread
// over the batch.
import {
  circuitBreaker as cockatielBreaker,
  ConsecutiveBreaker,
  handleAll,
  type CircuitBreakerPolicy,
} from 'cockatiel'
import Fastify from 'fastify'
import { Bench } from 'tinybench'

import type { CircuitBreaker } from '../plugins/circuit-breaker/index.ts'
import { pinSelf } from './children.ts'
import { readQuote } from './servers/dependency.ts'
import { OPEN_FOR_MS } from './servers/harness.ts'
import { circuitBreaker } from './servers/plugin.ts'
import { tripBreaker } from './servers/trip.ts'

const BATCH = 1000

// On the servers' core, as bench/run.ts starts it; alone, it pins itself there.
pinSelf(0)

const app = Fastify({ logger: false })
await app.register(circuitBreaker, {
  halfOpenAfter: OPEN_FOR_MS,
  breakers: { tripped: { halfOpenAfter: OPEN_FOR_MS } },
})
await app.ready()
const closed: CircuitBreaker = app.circuitBreaker
const open: CircuitBreaker = app.circuitBreakers.get('tripped')
await tripBreaker(open)
const plainCockatiel: CircuitBreakerPolicy = cockatielBreaker(handleAll, {
  breaker: new ConsecutiveBreaker(3),
  halfOpenAfter: OPEN_FOR_MS,
})

const prebuilt = new Error('prebuilt')
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** A task running `call` BATCH times, awaited one after another, then letting it settle. */
function batch (call: () => unknown): () => Promise<void> {
  return async () => {
    for (let i = 0; i < BATCH; i++) {
      try {
        await call()
      } catch {}
    }
    await settle()
  }
}

const tasks: Array<[string, () => unknown]> = [
  ['direct call', () => readQuote()],
  ['direct call, rejected with a prebuilt error', () => Promise.reject(prebuilt)],
  ['execute(), closed', () => closed.execute(readQuote)],
  ['cockatiel circuitBreaker().execute(), closed', () => plainCockatiel.execute(readQuote)],
  ['begin() + succeed(), closed (route protection)', () => {
    const call = closed.begin()
    if ('succeed' in call) call.succeed()
    return call
  }],
  ['execute(), open', () => open.execute(readQuote)],
  ['begin(), open (route protection)', () => open.begin()],
]

const bench = new Bench({ time: 1000, warmupTime: 250 })
for (const [name, call] of tasks) bench.add(name, batch(call))
await bench.run()

const nsPerCall = new Map<string, { mean: number, rme: number }>()
for (const task of bench.tasks) {
  const result = task.result
  if (result.state !== 'completed') throw new Error(`${task.name}: ${result.state}`)
  nsPerCall.set(task.name, { mean: result.latency.mean * 1e6 / BATCH, rme: result.latency.rme })
}
const direct = nsPerCall.get('direct call')?.mean ?? Number.NaN

const lines = [
  `Each call awaited, ${BATCH} per sample; node ${process.version}.`,
  '',
  '| call | ns per call (± rme) | above a direct call |',
  '|---|---|---|',
]
for (const [name, { mean, rme }] of nsPerCall) {
  const above = name === 'direct call' ? '-' : `+${(mean - direct).toFixed(0)} ns`
  lines.push(`| ${name} | ${mean.toFixed(0)} (± ${rme.toFixed(1)}%) | ${above} |`)
}
console.log(lines.join('\n'))
await app.close()
