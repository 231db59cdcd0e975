import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { readFile } from 'node:fs/promises'

import { Validator } from '@seriousme/openapi-schema-validator'
import type { FastifyInstance, RouteOptions } from 'fastify'
import t, { type Test } from 'tap'

import { DOCS_PREFIX } from '../../plugins/api-docs.ts'
import { serviceApp } from '../helpers/apps.ts'

type Operations = Record<string, Record<string, unknown>>

interface OpenApiDocument {
  openapi: string
  info: { title: string, version: string }
  paths: Record<string, Operations>
}

const errorReply = {
  'application/json': {
    schema: { type: 'object', required: ['error'], properties: { error: { type: 'string' } } },
  },
}

/**
 * The service, with every route it adds as `METHOD /path`. Fastify announces each new
 * instance on this diagnostics channel, so the hook is in place before any plugin adds a
 * route: the list does not depend on the docs plugin it checks.
 */
async function serviceAndRoutes (t: Test): Promise<{ app: FastifyInstance, routes: string[] }> {
  const routes: string[] = []
  const onRoute = (route: RouteOptions) => {
    for (const method of [route.method].flat()) routes.push(`${method} ${route.url}`)
  }
  const listen = (message: unknown) => {
    (message as { fastify: FastifyInstance }).fastify.addHook('onRoute', onRoute)
  }

  subscribe('fastify.initialization', listen)
  try {
    const { app } = await serviceApp(t)
    return { app, routes }
  } finally {
    unsubscribe('fastify.initialization', listen)
  }
}

/** The routes the document must list: no HEAD twin of a GET, none of the docs' own. */
function documentable (routes: string[]): string[] {
  return routes.filter((route) => {
    const [method, url = ''] = route.split(' ')
    const ofTheDocs = url === DOCS_PREFIX || url.startsWith(`${DOCS_PREFIX}/`)
    const headTwin = method === 'HEAD' && routes.includes(`GET ${url}`)
    return !ofTheDocs && !headTwin
  })
}

/** `GET /circuitbreakers/:name` as OpenAPI writes it: `GET /circuitbreakers/{name}`. */
function toOpenApi (route: string): string {
  return route.replace(/:(\w+)/g, '{$1}')
}

async function fetchDocument (app: FastifyInstance): Promise<OpenApiDocument> {
  return (await app.inject(`${DOCS_PREFIX}/json`)).json()
}

t.test('GET /docs/json is a valid OpenAPI 3.1 document named after the package', async (t) => {
  const { app } = await serviceApp(t)
  const packageJson = JSON.parse(await readFile('package.json', 'utf8'))

  const response = await app.inject(`${DOCS_PREFIX}/json`)
  const document = response.json()
  const validator = new Validator()
  const result = await validator.validate(document)

  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], /^application\/json/)
  t.same(result, { valid: true }, 'the validator finds no error')
  t.equal(validator.version, '3.1')
  t.match(document.info, {
    title: packageJson.name,
    version: packageJson.version,
    description: /circuit breaker/,
  })
})

t.test('every route of the service is in the document, and the docs\' own are not', async (t) => {
  const { app, routes } = await serviceAndRoutes(t)
  const document = await fetchDocument(app)

  const expected = documentable(routes).map(toOpenApi).sort()
  const documented = Object.entries(document.paths).flatMap(([path, operations]) => {
    return Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`)
  }).sort()

  t.ok(expected.includes('GET /unstable'), 'the routes were collected')
  t.notOk(expected.includes('HEAD /unstable'), 'without the HEAD twins of GET routes')
  t.same(documented, expected)
})

t.test('the service\'s own routes are described, with every answer they give', async (t) => {
  const { app } = await serviceApp(t)
  const { paths } = await fetchDocument(app)

  t.match(paths['/']?.get, {
    summary: String,
    description: String,
    tags: ['service'],
    responses: {
      200: { content: { 'text/plain': { schema: { type: 'string' } } } },
    },
  })
  t.match(paths['/unstable']?.get, {
    summary: String,
    description: String,
    tags: ['service'],
    responses: {
      200: { description: String, content: { 'text/plain': { schema: { type: 'string' } } } },
      500: { description: String, content: errorReply },
      502: { description: String, content: errorReply },
      503: {
        description: String,
        headers: { 'Retry-After': { description: String, schema: { type: 'integer' } } },
        content: errorReply,
      },
      504: { description: String, content: errorReply },
    },
  })
  for (const path of ['/circuitbreaker', '/circuitbreakers']) {
    t.match(paths[path]?.get, {
      summary: String,
      description: String,
      tags: ['circuit breakers'],
      responses: { 200: { description: String, content: { 'application/json': Object } } },
    }, path)
  }
})

t.test('GET /docs serves Swagger UI, whose assets come from the service itself', async (t) => {
  const { app } = await serviceApp(t)

  const page = await app.inject(DOCS_PREFIX)
  const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1])

  t.equal(page.statusCode, 200)
  t.equal(page.headers['content-type'], 'text/html; charset=utf-8')
  t.match(page.body, /<div id="swagger-ui">/)
  t.ok(assets.length > 0 && assets.every((url) => url?.startsWith(`${DOCS_PREFIX}/static/`)),
    'no asset is fetched from another host')

  const script = await app.inject(`${DOCS_PREFIX}/static/swagger-ui-bundle.js`)
  t.equal(script.statusCode, 200)
  t.match(script.headers['content-type'], /^(application|text)\/javascript/)
  t.ok(script.body.length > 100_000, 'the whole bundle')

  const style = await app.inject(`${DOCS_PREFIX}/static/swagger-ui.css`)
  t.equal(style.statusCode, 200)
  t.match(style.headers['content-type'], /^text\/css/)

  const initializer = await app.inject(`${DOCS_PREFIX}/static/swagger-initializer.js`)
  t.equal(initializer.statusCode, 200)
  t.match(initializer.body, /url: resolveUrl\('\.\/json'\)/, 'the UI loads this document')
  t.match(initializer.body, /validatorUrl: null/, 'and sends it to no online validator')
})
