import FakeTimers from '@sinonjs/fake-timers'
import fc from 'fast-check'
import Fastify, { type FastifyInstance } from 'fastify'
import t from 'tap'

import circuitBreaker from '../../plugins/circuit-breaker/index.ts'
import { logCapture, type LogLine } from '../helpers/logs.ts'

const THRESHOLD = 3
const HALF_OPEN_AFTER_MS = 10_000

type State = 'closed' | 'open' | 'half-open'

/** What the breaker promises, in a few lines: the reference the plugin must agree with. */
class BreakerModel {
  state: State = 'closed'
  failures = 0
  openedAt = 0
  now = 0
  readonly transitions: string[] = []

  /** Whether a call now would run the dependency as a half-open trial. */
  get trialDue (): boolean {
    return this.state === 'open' && this.now - this.openedAt >= HALF_OPEN_AFTER_MS
  }

  /** The Retry-After a call now gets, or undefined when the call is let through. */
  rejection (): string | undefined {
    if (this.state !== 'open' || this.trialDue) return undefined
    const waitMs = this.openedAt + HALF_OPEN_AFTER_MS - this.now
    return String(Math.max(1, Math.ceil(waitMs / 1000)))
  }

  call (succeeds: boolean): void {
    if (this.rejection() !== undefined) return
    const wasTrial = this.trialDue
    if (wasTrial) this.#move('half-open')

    if (succeeds) {
      this.failures = 0
      if (wasTrial) this.#move('closed')
      return
    }

    this.failures++
    if (wasTrial || this.failures >= THRESHOLD) {
      this.openedAt = this.now
      this.#move('open')
    }
  }

  #move (to: State): void {
    this.transitions.push(`${this.state}->${to}`)
    this.state = to
  }
}

interface Real {
  app: FastifyInstance
  clock: FakeTimers.Clock
  logs: LogLine[]
}

const dependency = (succeeds: boolean) => () => {
  if (succeeds) return 'ok'
  throw new Error('down')
}

/** A call through the real breaker: its answer and, when rejected, its Retry-After. */
async function callReal (real: Real, succeeds: boolean): Promise<string> {
  try {
    return await real.app.circuitBreaker.execute(dependency(succeeds))
  } catch (error) {
    const { headers } = error as { headers?: Record<string, string> }
    return headers === undefined ? 'failed' : `rejected ${headers['retry-after']}`
  }
}

function expectedAnswer (model: BreakerModel, succeeds: boolean): string {
  const retryAfter = model.rejection()
  if (retryAfter !== undefined) return `rejected ${retryAfter}`
  return succeeds ? 'ok' : 'failed'
}

function assertAgree (model: BreakerModel, real: Real): void {
  const snapshot = real.app.circuitBreaker.snapshot()
  const logged = real.logs
    .filter((line) => 'to' in line)
    .map((line) => `${line.from}->${line.to}`)

  if (snapshot.state !== model.state) {
    throw new Error(`state ${snapshot.state}, model ${model.state}`)
  }
  if (snapshot.consecutiveFailures !== model.failures) {
    throw new Error(`failures ${snapshot.consecutiveFailures}, model ${model.failures}`)
  }
  if (logged.join() !== model.transitions.join()) {
    throw new Error(`logged ${logged.join()}, model ${model.transitions.join()}`)
  }
}

class Call implements fc.AsyncCommand<BreakerModel, Real> {
  readonly succeeds: boolean

  constructor (succeeds: boolean) {
    this.succeeds = succeeds
  }

  check = () => true

  async run (model: BreakerModel, real: Real): Promise<void> {
    const expected = expectedAnswer(model, this.succeeds)
    const answer = await callReal(real, this.succeeds)
    model.call(this.succeeds)

    if (answer !== expected) throw new Error(`answered ${answer}, model ${expected}`)
    assertAgree(model, real)
  }

  toString = () => (this.succeeds ? 'succeed' : 'fail')
}

/** Calls made together while a half-open trial hangs: only the trial may run. */
class ConcurrentCalls implements fc.AsyncCommand<BreakerModel, Real> {
  readonly others: number
  readonly trialSucceeds: boolean

  constructor (others: number, trialSucceeds: boolean) {
    this.others = others
    this.trialSucceeds = trialSucceeds
  }

  check = (model: Readonly<BreakerModel>) => model.trialDue

  async run (model: BreakerModel, real: Real): Promise<void> {
    const trial = Promise.withResolvers<void>()
    let dependencyCalls = 0
    const held = () => {
      dependencyCalls++
      return trial.promise.then(dependency(this.trialSucceeds))
    }

    const trialCall = real.app.circuitBreaker.execute(held).catch(() => 'failed')
    const others = await Promise.all(Array.from({ length: this.others }, () =>
      real.app.circuitBreaker.execute(held).then(() => 'ran', (error: { headers?: object }) =>
        JSON.stringify(error.headers))))
    trial.resolve()
    await trialCall
    model.call(this.trialSucceeds)

    if (dependencyCalls !== 1) throw new Error(`${dependencyCalls} calls reached the dependency`)
    if (others.some((answer) => answer !== '{"retry-after":"1"}')) {
      throw new Error(`others answered ${others.join()}`)
    }
    assertAgree(model, real)
  }

  toString = () => `concurrent(${this.others}, trial ${this.trialSucceeds ? 'ok' : 'fails'})`
}

class Wait implements fc.AsyncCommand<BreakerModel, Real> {
  readonly ms: number

  constructor (ms: number) {
    this.ms = ms
  }

  check = () => true

  async run (model: BreakerModel, real: Real): Promise<void> {
    real.clock.tick(this.ms)
    model.now += this.ms
    assertAgree(model, real)
  }

  toString = () => `wait(${this.ms})`
}

const commands = [
  fc.boolean().map((succeeds) => new Call(succeeds)),
  fc.boolean().map((succeeds) => new Call(succeeds)),
  fc.tuple(fc.integer({ min: 1, max: 20 }), fc.boolean())
    .map(([others, succeeds]) => new ConcurrentCalls(others, succeeds)),
  fc.oneof(fc.integer({ min: 1, max: 3_000 }), fc.constantFrom(9_999, 10_000, 10_001))
    .map((ms) => new Wait(ms)),
]

t.test('the plugin agrees with a reference model of the breaker at every step', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.commands(commands, { maxCommands: 60 }), async (steps) => {
      const clock = FakeTimers.install({ now: 0, toFake: ['Date'] })
      const { stream, lines } = logCapture()
      const app = Fastify({ logger: { level: 'info', stream } })
      try {
        await app.register(circuitBreaker, {
          threshold: THRESHOLD,
          halfOpenAfter: HALF_OPEN_AFTER_MS,
        })
        const setup = () => ({ model: new BreakerModel(), real: { app, clock, logs: lines } })
        await fc.asyncModelRun(setup, steps)
      } finally {
        await app.close()
        clock.uninstall()
      }
    }),
    { numRuns: 150 }
  )
  t.pass('every sequence agreed')
})
