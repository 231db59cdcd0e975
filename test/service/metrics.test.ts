import Fastify, { type FastifyInstance } from 'fastify'
import t from 'tap'

import metrics from '../../plugins/metrics.ts'
import { pluginApp, scriptedRandom, serviceApp } from '../helpers/apps.ts'
import { fakeClock } from '../helpers/clock.ts'
import { fakeUpstream } from '../helpers/upstream.ts'

const FAILS = 0
const SUCCEEDS = 0.99
const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8'
const STATES = ['closed', 'open', 'half-open', 'isolated']

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** The samples of a Prometheus text exposition, comments left out. */
function parse (text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (match === null) throw new Error(`not a sample: ${line}`)
    const [, name = '', labels = '', value = ''] = match
    samples.push({
      name,
      labels: Object.fromEntries([...labels.matchAll(/(\w+)="([^"]*)"/g)].map(([, k, v]) => [k, v])),
      value: Number(value),
    })
  }
  return samples
}

/** Every sample `GET /metrics` answers with. */
async function scrape (app: FastifyInstance): Promise<Sample[]> {
  const response = await app.inject('/metrics')
  return parse(response.body)
}

/** The samples of one metric and breaker, by their other label values joined by spaces. */
function series (samples: Sample[], name: string, breaker: string): Record<string, number> {
  const found: Record<string, number> = {}
  for (const sample of samples) {
    if (sample.name !== name || sample.labels.breaker !== breaker) continue
    const { breaker: _, ...rest } = sample.labels
    found[Object.values(rest).join(' ')] = sample.value
  }
  return found
}

const noCalls = { success: 0, failure: 0, timeout: 0, rejected: 0, ignored: 0 }

function stateGauge (state: string): Record<string, number> {
  return Object.fromEntries(STATES.map((each) => [each, each === state ? 1 : 0]))
}

t.test('GET /metrics counts a whole breaker cycle of the service', async (t) => {
  const clock = fakeClock(t)
  const random = scriptedRandom(SUCCEEDS, SUCCEEDS, FAILS, FAILS, FAILS, SUCCEEDS)
  const { app } = await serviceApp(t, { env: { FAIL_MAX: '3', RESET_TIMEOUT: '10' }, random })

  const statuses = []
  for (let call = 0; call < 7; call++) statuses.push((await app.inject('/unstable')).statusCode)
  clock.tick(10_000)
  statuses.push((await app.inject('/unstable')).statusCode)
  t.same(statuses, [200, 200, 500, 500, 500, 503, 503, 200], 'the scripted cycle ran')

  const response = await app.inject('/metrics')
  t.equal(response.statusCode, 200)
  t.equal(response.headers['content-type'], PROMETHEUS_TEXT)

  const samples = parse(response.body)
  t.same(series(samples, 'circuit_breaker_calls_total', 'default'),
    { ...noCalls, success: 3, failure: 3, rejected: 2 })
  t.same(series(samples, 'circuit_breaker_transitions_total', 'default'), {
    'closed open': 1,
    'open half-open': 1,
    'half-open closed': 1,
  })
  t.same(series(samples, 'circuit_breaker_state', 'default'), stateGauge('closed'))
  t.equal(series(samples, 'circuit_breaker_call_duration_seconds_count', 'default')[''], 6,
    'every call that ran was timed, and no rejection')
  t.equal(series(samples, 'circuit_breaker_call_duration_seconds_bucket', 'default')['+Inf'], 6)
  t.ok(samples.some((sample) => sample.name === 'process_cpu_user_seconds_total'),
    'the default process metrics are there')
})

t.test('the state gauge is read at scrape time', async (t) => {
  fakeClock(t)
  const { app } = await serviceApp(t, { env: { FAIL_MAX: '1' }, random: scriptedRandom(FAILS) })

  await app.inject('/unstable')
  t.same(series(await scrape(app), 'circuit_breaker_state', 'default'), stateGauge('open'))

  const release = app.circuitBreaker.isolate()
  t.same(series(await scrape(app), 'circuit_breaker_state', 'default'), stateGauge('isolated'))
  release.dispose()
  t.same(series(await scrape(app), 'circuit_breaker_state', 'default'), stateGauge('closed'))
})

t.test('every breaker shows, with all its outcomes at 0 before any call', async (t) => {
  const { app } = await pluginApp(t, { breakers: { payments: { threshold: 5 } } })
  await app.register(metrics)

  const samples = await scrape(app)

  for (const breaker of ['default', 'payments']) {
    t.same(series(samples, 'circuit_breaker_calls_total', breaker), noCalls, breaker)
    t.same(series(samples, 'circuit_breaker_state', breaker), stateGauge('closed'), breaker)
    t.equal(series(samples, 'circuit_breaker_call_duration_seconds_count', breaker)[''], 0)
  }
})

t.test('a per-key breaker made after registration is counted', async (t) => {
  const { app } = await pluginApp(t, { keyedBreakers: { upstream: { threshold: 1 } } })
  await app.register(metrics)
  await app.ready()

  const breaker = app.circuitBreakers.keyed('upstream').get('prices.internal')
  await breaker.execute(() => 'ok')
  await t.rejects(breaker.execute(() => { throw new Error('down') }))
  await t.rejects(breaker.execute(() => 'not called'), { code: 'FST_BREAKER_CIRCUIT_OPEN' })

  const samples = await scrape(app)
  t.same(series(samples, 'circuit_breaker_calls_total', 'upstream:prices.internal'),
    { ...noCalls, success: 1, failure: 1, rejected: 1 })
  t.same(series(samples, 'circuit_breaker_transitions_total', 'upstream:prices.internal'),
    { 'closed open': 1 })
  t.same(series(samples, 'circuit_breaker_state', 'upstream:prices.internal'), stateGauge('open'))
})

t.test('a dropped per-key breaker leaves the metrics; made again, it starts at 0', async (t) => {
  const { app } = await pluginApp(t, { keyedBreakers: { tenant: { maxKeys: 1 } } })
  await app.register(metrics)
  await app.ready()
  const tenants = app.circuitBreakers.keyed('tenant')

  const first = tenants.get('a')
  await first.execute(() => 'ok')
  tenants.get('b')
  let samples = await scrape(app)
  t.same(series(samples, 'circuit_breaker_calls_total', 'tenant:a'), {}, 'a is gone')
  t.same(series(samples, 'circuit_breaker_call_duration_seconds_count', 'tenant:a'), {})
  t.same(series(samples, 'circuit_breaker_state', 'tenant:a'), {})
  t.same(series(samples, 'circuit_breaker_calls_total', 'tenant:b'), noCalls, 'b is there')

  await first.execute(() => 'ok')
  t.same(series(await scrape(app), 'circuit_breaker_calls_total', 'tenant:a'), {},
    'a dropped breaker is no longer counted')

  const second = tenants.get('a')
  await t.rejects(second.execute(() => { throw new Error('down') }))
  samples = await scrape(app)
  t.same(series(samples, 'circuit_breaker_calls_total', 'tenant:a'), { ...noCalls, failure: 1 })
  t.same(series(samples, 'circuit_breaker_calls_total', 'tenant:b'), {}, 'b was dropped for a')
})

t.test('a call cut at the breaker\'s timeout is counted as a timeout', async (t) => {
  const { app } = await pluginApp(t, { timeout: 10 })
  await app.register(metrics)

  await t.rejects(app.circuitBreaker.execute(() => new Promise(() => {})),
    { code: 'FST_BREAKER_CALL_TIMEOUT' })

  const samples = await scrape(app)
  t.same(series(samples, 'circuit_breaker_calls_total', 'default'), { ...noCalls, timeout: 1 })
  t.equal(series(samples, 'circuit_breaker_call_duration_seconds_count', 'default')[''], 1)
})

t.test('an upstream call cut at UPSTREAM_TIMEOUT_MS is counted as a timeout', async (t) => {
  const upstream = await fakeUpstream(t)
  upstream.behave('hang')
  const { app } = await serviceApp(t, {
    env: { UPSTREAM_URL: upstream.origin, UPSTREAM_TIMEOUT_MS: '10' },
  })

  t.equal((await app.inject('/unstable')).statusCode, 504)

  t.same(series(await scrape(app), 'circuit_breaker_calls_total', 'default'),
    { ...noCalls, timeout: 1 })
})

t.test('an error the failure rule does not count is counted as ignored', async (t) => {
  const { app } = await pluginApp(t)
  await app.register(metrics)
  const notFound = Object.assign(new Error('no such price'), { statusCode: 404 })

  await t.rejects(app.circuitBreaker.execute(() => { throw notFound }), notFound)

  const samples = await scrape(app)
  t.same(series(samples, 'circuit_breaker_calls_total', 'default'), { ...noCalls, ignored: 1 })
  t.equal(series(samples, 'circuit_breaker_call_duration_seconds_count', 'default')[''], 1)
})

t.test('each app has a registry of its own', async (t) => {
  const one = await pluginApp(t)
  await one.app.register(metrics)
  const other = await pluginApp(t)
  await other.app.register(metrics)

  await one.app.circuitBreaker.execute(() => 'ok')

  t.equal(series(await scrape(one.app), 'circuit_breaker_calls_total', 'default').success, 1)
  t.equal(series(await scrape(other.app), 'circuit_breaker_calls_total', 'default').success, 0)
})

t.test('the plugin needs the circuit-breaker plugin registered first', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())

  await t.rejects(async () => { await app.register(metrics) }, /fastify-breaker/)
})
