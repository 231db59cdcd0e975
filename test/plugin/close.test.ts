import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

import t from 'tap'

const pluginUrl = new URL('../../plugins/circuit-breaker/index.ts', import.meta.url).href

// Runs in a child process so that nothing of the test runner keeps the event loop alive.
const script = `
import Fastify from 'fastify'
import circuitBreaker from ${JSON.stringify(pluginUrl)}

const app = Fastify()
await app.register(circuitBreaker, { threshold: 1, halfOpenAfter: 3_600_000 })
await app.circuitBreaker.execute(() => { throw new Error('down') }).catch(() => {})
const state = app.circuitBreaker.snapshot().state
await app.close()
console.log(JSON.stringify({ state, resources: process.getActiveResourcesInfo() }))
`

t.test('a process that closes its app exits at once, even with the circuit open', async (t) => {
  const started = performance.now()
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    encoding: 'utf8',
    timeout: 30_000,
  })
  const elapsedMs = performance.now() - started

  t.equal(child.status, 0, child.stderr)
  const report = JSON.parse(child.stdout) as { state: string, resources: string[] }
  t.equal(report.state, 'open')
  t.notOk(report.resources.includes('Timeout'), `no timer left: ${report.resources.join(', ')}`)
  t.ok(elapsedMs < 15_000, 'it did not wait for the hour-long open period')
})
