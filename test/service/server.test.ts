import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'

import t, { type Test } from 'tap'

const root = fileURLToPath(new URL('../..', import.meta.url))

/** Starts `npm start`'s entry point on an ephemeral port and waits for its address. */
async function startServer (t: Test, env: Record<string, string>): Promise<{
  url: string
  child: ChildProcess
}> {
  const child = spawn(process.execPath, ['server.ts'], {
    cwd: root,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  t.teardown(() => { child.kill('SIGKILL') })

  let output = ''
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
      if (match?.[1] !== undefined) resolve(match[1])
    })
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${output}`)))
  })
  return { url, child }
}

t.test('the real server answers over HTTP and trips its breaker', async (t) => {
  const { url, child } = await startServer(t, { FAILURE_RATE: '1', RESET_TIMEOUT: '0.2' })

  const welcome = await fetch(`${url}/`)
  t.equal(await welcome.text(), 'Welcome to the microservice!')

  for (let i = 0; i < 3; i++) {
    const failed = await fetch(`${url}/unstable`)
    t.equal(failed.status, 500)
    t.same(await failed.json(), { error: 'Simulated failure' })
  }

  const rejected = await fetch(`${url}/unstable`)
  t.equal(rejected.status, 503)
  t.equal(rejected.headers.get('retry-after'), '1')
  t.same(await rejected.json(), { error: 'Circuit breaker is open!' })

  const status = await (await fetch(`${url}/circuitbreaker`)).json()
  t.match(status, { state: 'open', failure_count: 3 })

  // A short real wait: the clock here is the server process's own.
  await new Promise((resolve) => setTimeout(resolve, 250))
  const trial = await fetch(`${url}/unstable`)
  t.equal(trial.status, 500, 'the trial reached the dependency again')

  child.kill('SIGTERM')
  const [code] = await once(child, 'exit')
  t.equal(code, 0, 'SIGTERM closes the server gracefully')
})

t.test('a bad setting stops the start, naming the variable', async (t) => {
  const child = spawn(process.execPath, ['server.ts'], {
    cwd: root,
    env: { ...process.env, FAIL_MAX: 'many' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })

  const [code] = await once(child, 'exit')

  t.equal(code, 1)
  t.match(stderr, /Invalid configuration: .*FAIL_MAX/)
})

t.test('SIGTERM lets a request in flight finish, then the process exits 0', async (t) => {
  const upstreamAnswer = Promise.withResolvers<ServerResponse>()
  const upstream = createServer((_request, response) => upstreamAnswer.resolve(response))
  upstream.listen(0, '127.0.0.1')
  await once(upstream, 'listening')
  t.teardown(() => { upstream.closeAllConnections(); upstream.close() })
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/slow`

  const { url, child } = await startServer(t, { UPSTREAM_URL: upstreamUrl })
  const inFlight = fetch(`${url}/unstable`)
  const heldResponse = await upstreamAnswer.promise

  child.kill('SIGTERM')
  const exited = once(child, 'exit')
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(child.exitCode, null, 'still running while the request is in flight')
  await t.rejects(fetch(`${url}/`), 'no longer accepting new requests')

  heldResponse.writeHead(200, { 'content-type': 'text/plain' }).end('finished late')
  const response = await inFlight
  t.equal(response.status, 200)
  t.equal(await response.text(), 'finished late')

  const [code] = await exited
  t.equal(code, 0)
})
