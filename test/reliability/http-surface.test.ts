import { METHODS, request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'

import fc from 'fast-check'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'

import { serviceApp } from '../helpers/apps.ts'
import { fakeClock } from '../helpers/clock.ts'
import { seededRandom } from '../helpers/random.ts'

const ADMIN_TOKEN = 'reliability-suite-admin-token'
const JSON_TYPE = 'application/json; charset=utf-8'
const RUNS = 300

/**
 * Every status the service may answer, from the README and the routes. Fastify answers
 * 404, never 405, for a method a path does not have. 400 also comes from Fastify's router
 * for a malformed percent-encoding, and 414 for a path parameter over 500 characters
 * (`maxParamLength`). The docs' UI answers 302 (to `/docs/`), and 403 for a file name
 * with a NUL byte or `..\` in it; the admin route answers 403 only without ADMIN_TOKEN.
 * 504 comes only in upstream mode.
 */
const DOCUMENTED_STATUSES = [200, 302, 400, 401, 403, 404, 409, 413, 414, 415, 500, 503, 504]

/** The answers that are not JSON: a route's plain text, the metrics, the docs' UI. */
function expectedNonJson (path: string, status: number): RegExp | undefined {
  if (path === '/docs' || path.startsWith('/docs/')) {
    if (status === 302) return /^$/
    if (status === 200 && !path.startsWith('/docs/json')) return /./
  }
  if (status !== 200) return undefined
  if (path === '/' || path === '/unstable') return /^text\/plain; charset=utf-8$/
  if (path === '/metrics') return /^text\/plain; version=0\.0\.4; charset=utf-8$/
  return undefined
}

const STACK_TRACE_LINE = /\n\s+at [^\n]*:\d+:\d+/

function hasStackKey (value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false
  return Object.entries(value).some(([key, inner]) => key === 'stack' || hasStackKey(inner))
}

/** What is wrong with `response` to `request`, or `undefined` if it is as documented. */
function problemWith (
  request: InjectOptions,
  response: LightMyRequestResponse
): string | undefined {
  // The URL as the server got it: light-my-request resolves `/..` and the like first.
  const path = String(response.raw.req.url).split('?')[0] ?? ''
  const status = response.statusCode
  const contentType = response.headers['content-type'] ?? ''
  if (!DOCUMENTED_STATUSES.includes(status)) return `undocumented status ${status}`
  if (STACK_TRACE_LINE.test(response.body)) return 'a stack trace in the body'

  const nonJson = expectedNonJson(path, status)
  if (nonJson !== undefined) {
    return nonJson.test(String(contentType)) ? undefined : `content type ${String(contentType)}`
  }
  if (contentType !== JSON_TYPE) {
    return `content type ${String(contentType)} where JSON was due`
  }
  if (request.method === 'HEAD') return response.body === '' ? undefined : 'a body to HEAD'

  let body: unknown
  try {
    body = JSON.parse(response.body)
  } catch {
    return 'a body that is not JSON'
  }
  if (hasStackKey(body)) return 'a stack key in the body'
  if (status >= 400 && typeof (body as { error?: unknown }).error !== 'string') {
    return 'an error reply without an error message'
  }
  return undefined
}

const realPaths = [
  '/', '/unstable', '/circuitbreaker', '/circuitbreakers', '/circuitbreakers/events',
  '/circuitbreakers/default', '/circuitbreakers/nope', '/metrics', '/docs', '/docs/json',
  '/docs/yaml', '/docs/static/index.html',
]

const junkSegment = fc.oneof(
  fc.webSegment(),
  fc.constantFrom('%zz', '%', '..', '.', '%00', '%2F', '%C0%AF', 'default', 'events', 'x'.repeat(501)),
  fc.string({ maxLength: 12 }).map(encodeURIComponent)
)

const path = fc.oneof(
  // The breaker's route, often enough to open and close the circuit along the run.
  { arbitrary: fc.constant('/unstable'), weight: 2 },
  { arbitrary: fc.constantFrom(...realPaths), weight: 3 },
  fc.array(junkSegment, { maxLength: 4 }).map((segments) => `/${segments.join('/')}`),
  fc.tuple(fc.constantFrom(...realPaths), junkSegment).map(([real, junk]) => `${real}/${junk}`)
)

const queryValue = fc.oneof(
  fc.integer({ min: -5, max: 2_000 }).map(String),
  fc.constantFrom('default', '', '%zz', 'NaN'),
  fc.string({ maxLength: 10 }).map(encodeURIComponent)
)

const query = fc.array(
  fc.tuple(fc.constantFrom('limit', 'breaker', 'action', 'x', '__proto__'), queryValue),
  { maxLength: 3 }
).map((pairs) => pairs.length === 0 ? '' : `?${pairs.map((pair) => pair.join('=')).join('&')}`)

const printable = fc.string({ maxLength: 40 })

const headers = fc.record({
  authorization: fc.oneof(
    { arbitrary: fc.constant(`Bearer ${ADMIN_TOKEN}`), weight: 3 },
    fc.constant(`Bearer ${'x'.repeat(ADMIN_TOKEN.length)}`),
    fc.constant('Basic Zm9vOmJhcg=='),
    printable
  ),
  'content-type': fc.oneof(
    { arbitrary: fc.constant('application/json'), weight: 3 },
    fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data',
      'text/xml', 'application/json; charset=latin1', 'application/problem+json'),
    printable
  ),
  accept: fc.constantFrom('*/*', 'application/json', 'text/html', 'application/xml'),
  'x-junk': printable,
}, { requiredKeys: [] })

const body = fc.oneof(
  {
    arbitrary: fc.constantFrom('isolate', 'release', 'reset', 'explode')
      .map((action) => JSON.stringify({ action })),
    weight: 3,
  },
  fc.json({ maxDepth: 2 }),
  printable,
  fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
  fc.string({ minLength: 1_025, maxLength: 1_200 }).map((text) => JSON.stringify({ action: text }))
)

/** Requests shaped like an operator's, so the admin route's every answer comes up. */
const adminRequest = fc.record({
  method: fc.constant('POST'),
  url: fc.constantFrom('default', 'nope', 'n'.repeat(501), '%zz')
    .map((name) => `/circuitbreakers/${name}`),
  headers: fc.record({
    authorization: fc.constantFrom(`Bearer ${ADMIN_TOKEN}`, 'Bearer wrong-token-of-some-length'),
    'content-type': fc.constantFrom('application/json', 'text/plain'),
  }),
  payload: body,
})

const anyRequest = fc.record({
  method: fc.oneof({ arbitrary: fc.constantFrom('GET', 'POST'), weight: 3 },
    fc.constantFrom(...METHODS)),
  url: fc.tuple(path, query).map(([base, search]) => base + search),
  headers,
  payload: fc.option(body, { nil: undefined }),
}).map(({ method, payload, ...rest }): InjectOptions => ({
  ...rest,
  method: method as NonNullable<InjectOptions['method']>,
  ...(payload === undefined ? {} : { payload }),
}))

const request = fc.oneof({ arbitrary: anyRequest, weight: 3 },
  adminRequest.map((admin): InjectOptions => ({ ...admin, method: 'POST' })))

/** Milliseconds between two requests: often none, sometimes past the open period. */
const pause = fc.oneof(fc.constant(0), fc.nat(3_000))

async function service (t: Test): Promise<FastifyInstance> {
  const { app } = await serviceApp(t, {
    env: { ADMIN_TOKEN, FAIL_MAX: '2', RESET_TIMEOUT: '2', FAILURE_RATE: '0.5' },
    random: seededRandom(7),
  })
  return app
}

t.test('random methods, paths, queries, headers and bodies get only documented answers, ' +
  'JSON where JSON is due, never a stack trace', async (t) => {
  const clock = fakeClock(t)
  const app = await service(t)
  const seen = new Set<number>()

  // Time passes between requests, so the circuit opens, half-opens and closes as they come.
  await fc.assert(fc.asyncProperty(request, pause, async (options, waitMs) => {
    clock.tick(waitMs)
    const response = await app.inject(options)
    seen.add(response.statusCode)

    const problem = problemWith(options, response)
    if (problem !== undefined) {
      throw new Error(`${problem}: ${response.statusCode} ${response.body.slice(0, 300)}`)
    }
  }), { numRuns: RUNS })

  t.pass(`${RUNS} random requests, each answered as documented`)
  t.comment(`statuses seen: ${[...seen].sort().join(', ')}`)
  const reached = [200, 400, 401, 404, 415, 500, 503].filter((status) => seen.has(status))
  t.same(reached, [200, 400, 401, 404, 415, 500, 503],
    'the generators reached the routes, the guard, the parsers and the breaker')
})

const auth = { authorization: `Bearer ${ADMIN_TOKEN}` }

t.test('the answers decided by Fastify itself, not by the routes', async (t) => {
  const app = await service(t)

  const cases: Array<{ named: string, request: InjectOptions, status: number, body: unknown }> = [
    {
      named: 'a method the path does not have: 404, not 405',
      request: { method: 'DELETE', url: '/unstable' },
      status: 404,
      body: { error: 'Route DELETE /unstable not found' },
    },
    {
      named: 'a content type without a parser: 415',
      request: {
        method: 'POST',
        url: '/circuitbreakers/default',
        headers: { ...auth, 'content-type': 'text/xml' },
        payload: '<action>reset</action>',
      },
      status: 415,
      body: { error: 'Unsupported Media Type' },
    },
    {
      named: 'JSON that does not parse: 400',
      request: {
        method: 'POST',
        url: '/circuitbreakers/default',
        headers: { ...auth, 'content-type': 'application/json' },
        payload: '{"action":',
      },
      status: 400,
      body: { error: 'Body is not valid JSON but content-type is set to \'application/json\'' },
    },
    {
      named: 'a malformed percent-encoding: 400 from the router',
      request: { method: 'GET', url: '/%zz' },
      status: 400,
      body: { error: '\'/%zz\' is not a valid url component' },
    },
    {
      named: 'a docs file name with a NUL byte: 403 from the static file server',
      request: { method: 'GET', url: '/docs/static/%00' },
      status: 403,
      body: { error: 'Forbidden' },
    },
    {
      named: 'a path parameter over 500 characters: 414 from the router',
      request: {
        method: 'POST',
        url: `/circuitbreakers/${'n'.repeat(501)}`,
        headers: { ...auth, 'content-type': 'application/json' },
        payload: '{"action":"reset"}',
      },
      status: 414,
      body: { error: `'/circuitbreakers/${'n'.repeat(501)}' is exceeding the max param length` },
    },
  ]

  for (const { named, request, status, body } of cases) {
    const response = await app.inject(request)
    t.equal(response.statusCode, status, named)
    t.equal(response.headers['content-type'], JSON_TYPE, named)
    t.same(response.json(), body, named)
  }
})

/** `{"action":"reset"}` padded with spaces to exactly `bytes` bytes: valid JSON still. */
function resetBodyOf (bytes: number): string {
  const body = '{"action":"reset"}'
  return body + ' '.repeat(bytes - body.length)
}

t.test('the admin route takes bodies up to 1 KiB and refuses a larger one with 413 JSON',
  async (t) => {
    const app = await service(t)
    const post = (payload: string, headers: Record<string, string> = auth) => app.inject({
      method: 'POST',
      url: '/circuitbreakers/default',
      headers: { ...headers, 'content-type': 'application/json' },
      payload,
    })

    const atLimit = await post(resetBodyOf(1_024))
    t.equal(atLimit.statusCode, 200)
    t.same(atLimit.json(), {
      name: 'default', state: 'closed', failure_count: 0, opened_at: null, next_trial_at: null,
    })

    const overLimit = await post(resetBodyOf(1_025))
    t.equal(overLimit.statusCode, 413)
    t.equal(overLimit.headers['content-type'], JSON_TYPE)
    t.same(overLimit.json(), { error: 'Request body is too large' })

    const anonymous = await post(resetBodyOf(2 * 1024 * 1024), {})
    t.equal(anonymous.statusCode, 401, 'the token is checked before any body is read')
    t.same(anonymous.json(), { error: 'missing authorization header' })
  })

t.test('a body announced larger than the limit is refused at once, before it is sent',
  async (t) => {
    const app = await service(t)
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as AddressInfo

    const response = await new Promise<{ status: number, body: string }>((resolve, reject) => {
      const request = httpRequest({
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/circuitbreakers/default',
        agent: false,
        headers: {
          ...auth,
          'content-type': 'application/json',
          'content-length': String(10 * 1024 * 1024),
        },
      }, (reply) => {
        let text = ''
        reply.on('data', (chunk: Buffer) => { text += chunk.toString() })
        reply.on('end', () => {
          request.destroy()
          resolve({ status: reply.statusCode ?? 0, body: text })
        })
      })
      request.on('error', reject)
      // Only the start of the ten mebibytes announced: the answer must not wait for the rest.
      request.write('{"action":"')
    })

    t.equal(response.status, 413)
    t.same(JSON.parse(response.body), { error: 'Request body is too large' })
  })
