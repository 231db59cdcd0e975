// Installs the packed tarball into a throwaway app outside the repo, as a user would,
// and checks that the plugin runs from dist/ and that its built declarations type-check.
// Nothing here can see the repo's sources or node_modules (except its tsc), so a file
// missing from `files`, a wrong `exports` entry or a broken .d.ts fails this test.
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

import t from 'tap'

const repoRoot = fileURLToPath(new URL('..', import.meta.url))
const tsc = join(repoRoot, 'node_modules', '.bin', 'tsc')

// npm pack runs the tsc build, and a cold npm install can take half a minute.
t.setTimeout(240_000)

interface RunResult {
  code: number | string | null
  stdout: string
  output: string
}

// The children must not inherit this run's harness. npm passes its running script's
// package and prefix variables down, which have no business in the consumer. tap re-adds
// its coverage loader to NODE_OPTIONS on every spawn, whatever env is passed, and tsc under that loader dies
// with ERR_REQUIRE_CYCLE_MODULE, so each command starts under `env -u NODE_OPTIONS`.
// Registry, cache and proxy settings still apply.
const childEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) =>
  !/^(INIT_CWD|npm_package_.*|npm_lifecycle_.*|npm_config_local_prefix)$/i.test(name)))

function run (file: string, args: string[], cwd: string): Promise<RunResult> {
  const options = { cwd, env: childEnv, maxBuffer: 16 * 1024 * 1024 }
  return new Promise((resolve) => {
    execFile('env', ['-u', 'NODE_OPTIONS', file, ...args], options, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : (error.code ?? null), stdout, output: `${stdout}${stderr}` })
    })
  })
}

const quiet = ['--no-audit', '--no-fund', '--loglevel=error']

const CONSUMER_JS = `import Fastify from 'fastify'
import circuitBreaker from 'fastify-breaker'

const app = Fastify({ logger: false })
app.register(circuitBreaker, { threshold: 1, halfOpenAfter: 60000 })
app.get('/', async () => app.circuitBreaker.execute(() => { throw new Error('down') }))

const replies = []
for (let i = 0; i < 2; i++) {
  const res = await app.inject({ method: 'GET', url: '/' })
  replies.push({ statusCode: res.statusCode, retryAfter: res.headers['retry-after'] ?? null, body: res.json() })
}
await app.close()
console.log(JSON.stringify(replies))
`

const CONSUMER_TS = `import Fastify from 'fastify'
import circuitBreaker, { isCircuitOpenError, type CircuitSnapshot } from 'fastify-breaker'

const app = Fastify()
await app.register(circuitBreaker, { threshold: 1, halfOpenAfter: 60000 })

const value: number = await app.circuitBreaker.execute(() => 42)
const snapshot: CircuitSnapshot = app.circuitBreaker.snapshot()
const rejected: boolean = isCircuitOpenError(new Error('no'))
console.log(value, snapshot.state, rejected)

// @ts-expect-error threshold is a count of failures, not a word
app.register(circuitBreaker, { threshold: 'three' })
`

const CONSUMER_TSCONFIG = {
  compilerOptions: {
    strict: true,
    target: 'es2024',
    module: 'nodenext',
    moduleResolution: 'nodenext',
    types: ['node'],
    skipLibCheck: false,
    noEmit: true,
  },
  files: ['consumer.ts'],
}

let consumerDir = ''

t.before(async () => {
  const root = await mkdtemp(join(tmpdir(), 'fastify-breaker-consumer-'))
  t.teardown(() => rm(root, { recursive: true, force: true }))

  const packDir = join(root, 'pack')
  consumerDir = join(root, 'app')
  await mkdir(packDir)
  await mkdir(consumerDir)

  const pack = await run('npm', ['pack', '--pack-destination', packDir, ...quiet], repoRoot)
  if (pack.code !== 0) throw new Error(`npm pack failed (${pack.code}):\n${pack.output}`)
  const tarball = (await readdir(packDir)).find((name) => name.endsWith('.tgz'))
  if (tarball === undefined) throw new Error(`npm pack made no tarball:\n${pack.output}`)

  await writeFile(join(consumerDir, 'package.json'), JSON.stringify({
    name: 'fastify-breaker-consumer',
    private: true,
    type: 'module',
    dependencies: {
      'fastify-breaker': `file:${join(packDir, tarball)}`,
      fastify: '^5.0.0',
    },
    // fastify's own declarations need Node's types.
    devDependencies: { '@types/node': '^24.0.0' },
  }, null, 2))

  const install = await run('npm', ['install', '--prefer-offline', ...quiet], consumerDir)
  if (install.code !== 0) {
    throw new Error(`npm install failed (${install.code}):\n${install.output}`)
  }

  await writeFile(join(consumerDir, 'app.js'), CONSUMER_JS)
  await writeFile(join(consumerDir, 'consumer.ts'), CONSUMER_TS)
  await writeFile(join(consumerDir, 'tsconfig.json'), JSON.stringify(CONSUMER_TSCONFIG, null, 2))
})

t.test('the packed plugin opens the circuit in a JS app', { timeout: 60_000 }, async (t) => {
  const result = await run(process.execPath, ['app.js'], consumerDir)
  if (!t.equal(result.code, 0, 'app.js runs', { output: result.output })) return

  const lastLine = result.stdout.trim().split('\n').at(-1) ?? ''
  const [first, second] = JSON.parse(lastLine) as unknown[]

  t.match(first, {
    statusCode: 500,
    retryAfter: null,
    body: { statusCode: 500, error: 'Internal Server Error', message: 'down' },
  }, 'the failing call answers 500')
  t.match(second, {
    statusCode: 503,
    retryAfter: '60',
    body: {
      statusCode: 503,
      code: 'FST_BREAKER_CIRCUIT_OPEN',
      error: 'Service Unavailable',
      message: 'circuit breaker "default" is open',
    },
  }, 'the open circuit answers 503 with retry-after')
})

t.test('the packed declarations type-check in a TypeScript app', { timeout: 60_000 }, async (t) => {
  // The @ts-expect-error line makes tsc fail (TS2578) if the bad option compiles.
  const result = await run(process.execPath, [tsc, '--noEmit', '-p', 'tsconfig.json'], consumerDir)
  t.equal(result.code, 0, 'tsc --noEmit passes', { output: result.output })
})
