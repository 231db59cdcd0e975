import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'

import t from 'tap'

import { fakeUpstream } from '../helpers/upstream.ts'

const root = new URL('../..', import.meta.url)
const ADMIN_TOKEN = 'reliability-suite-admin-token'

// The calls each cycle makes, and what the service answers them: the first call is cut at
// the upstream timeout, which opens the circuit (FAIL_MAX 1), so the second is rejected.
const calls = [
  { method: 'GET', path: '/unstable', status: 504 },
  { method: 'GET', path: '/unstable', status: 503 },
  { method: 'GET', path: '/circuitbreaker', status: 200 },
  { method: 'GET', path: '/metrics', status: 200 },
  { method: 'GET', path: '/docs/json', status: 200 },
  { method: 'POST', path: '/circuitbreakers/default', status: 200 },
  { method: 'GET', path: '/nope', status: 404 },
]

/**
 * Runs in a child process, so that nothing of the test runner is counted: builds the
 * whole service twice, calls it over real connections, closes it, and reports what is
 * left in the process after each close.
 */
function childScript (upstreamUrl: string): string {
  return `
import { request } from 'node:http'
import { buildApp } from ${JSON.stringify(new URL('app.ts', root).href)}
import { loadConfig } from ${JSON.stringify(new URL('config.ts', root).href)}

const calls = ${JSON.stringify(calls)}
const listeners = () => Object.fromEntries(
  process.eventNames().map((name) => [String(name), process.listenerCount(name)]))

function call (port, { method, path }) {
  return new Promise((resolve, reject) => {
    const outgoing = request({
      host: '127.0.0.1', port, method, path, agent: false,
      headers: { authorization: 'Bearer ${ADMIN_TOKEN}', 'content-type': 'application/json' },
    }, (response) => {
      response.resume()
      response.on('end', () => resolve(response.statusCode))
    })
    outgoing.on('error', reject)
    outgoing.end(method === 'POST' ? '{"action":"isolate"}' : undefined)
  })
}

async function cycle () {
  const app = await buildApp({ config: loadConfig({
    UPSTREAM_URL: ${JSON.stringify(upstreamUrl)},
    UPSTREAM_TIMEOUT_MS: '50',
    FAIL_MAX: '1',
    RESET_TIMEOUT: '3600',
    LOG_LEVEL: 'silent',
    ADMIN_TOKEN: '${ADMIN_TOKEN}',
  }) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const statuses = []
  for (const each of calls) statuses.push(await call(app.server.address().port, each))
  await app.close()
  // Handles that app.close() closed leave the event loop at its next turn.
  await new Promise((resolve) => setImmediate(resolve))
  return { statuses, resources: process.getActiveResourcesInfo(), listeners: listeners() }
}

// The stdio pipes open when first used: open them now, so they count as there before.
void process.stdout
void process.stderr
const before = { resources: process.getActiveResourcesInfo(), listeners: listeners() }
const first = await cycle()
const second = await cycle()
console.log(JSON.stringify({ before, first, second }))
`
}

interface Leftovers {
  resources: string[]
  listeners: Record<string, number>
}

interface Report {
  before: Leftovers
  first: Leftovers & { statuses: number[] }
  second: Leftovers & { statuses: number[] }
}

t.test('after app.close() the service leaves no timer, socket or listener, and its ' +
  'process exits at once', async (t) => {
  const upstream = await fakeUpstream(t)
  upstream.behave('hang')
  const child = spawn(process.execPath, ['--input-type=module', '-e',
    childScript(`${upstream.origin}/prices`)], {
    cwd: fileURLToPath(root),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => { child.kill('SIGKILL') })

  let stdout = ''
  let stderr = ''
  let reportedAt = 0
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
    reportedAt = performance.now()
  })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const [code] = await once(child, 'exit') as [number | null]
  const exitAfterReportMs = performance.now() - reportedAt

  t.equal(code, 0, code === 0 ? 'the child exited cleanly' : stderr)
  const report = JSON.parse(stdout) as Report
  const expected = calls.map((each) => each.status)
  t.same(report.first.statuses, expected, 'a timeout, an open circuit, and the other routes')
  t.same(report.second.statuses, expected)

  t.same(report.before.resources, ['PipeWrap', 'PipeWrap'], 'only stdout and stderr at first')
  t.same(report.first.resources, report.before.resources,
    'no timer, socket or server left after the first close')
  t.same(report.second.resources, report.before.resources, 'nor after the second')
  // pino adds one 'exit' listener per process (on-exit-leak-free) to flush its stream;
  // it holds its streams weakly and does not grow with the apps.
  t.same(report.first.listeners, { ...report.before.listeners, exit: 1 },
    'no process listener left but pino\'s one')
  t.same(report.second.listeners, report.first.listeners, 'a second app adds none')
  t.ok(exitAfterReportMs < 1_000, `exited ${Math.round(exitAfterReportMs)} ms after closing`)
})

// The plugin alone: its half-open trial, hung at close, is bounded by TRIAL_DEADLINE_MS.
const hungTrialScript = `
import Fastify from 'fastify'
import circuitBreaker from ${JSON.stringify(new URL('plugins/circuit-breaker/index.ts', root).href)}

void process.stdout
void process.stderr
const before = process.getActiveResourcesInfo()
const app = Fastify()
await app.register(circuitBreaker, { threshold: 1, halfOpenAfter: 0 })
await app.circuitBreaker.execute(() => { throw new Error('down') }).catch(() => {})
app.circuitBreaker.execute(() => new Promise(() => {})).catch(() => {})
const state = app.circuitBreaker.snapshot().state
await app.close()
console.log(JSON.stringify({ state, before, after: process.getActiveResourcesInfo() }))
`

t.test('a half-open trial still hanging at app.close() does not hold the process up',
  async (t) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', hungTrialScript], {
      cwd: fileURLToPath(root),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    t.teardown(() => { child.kill('SIGKILL') })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    const started = performance.now()
    const exited = once(child, 'exit') as Promise<[number | null]>
    // The trial's deadline is a minute away: the process must not wait for it. (This wait
    // does not keep the test's own process alive once the child is gone.)
    const patience = sleep(5_000, undefined, { ref: false }).then(() => undefined)
    const waited = await Promise.race([exited, patience])

    t.ok(waited !== undefined, `exited after ${Math.round(performance.now() - started)} ms`)
    t.equal(waited?.[0], 0, waited?.[0] === 0 ? 'the child exited cleanly' : stderr)
    const report = JSON.parse(stdout) as { state: string, before: string[], after: string[] }
    t.equal(report.state, 'half-open', 'the trial was in flight when the app closed')
    t.same(report.after, report.before, 'no timer was left waiting for it')
  })
