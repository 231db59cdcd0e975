import { readFile } from 'node:fs/promises'

import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

/** Where people read the docs; the OpenAPI document is at `<prefix>/json` and `/yaml`. */
export const DOCS_PREFIX = '/docs'

const DESCRIPTION = 'A service that calls an unreliable dependency through a circuit ' +
  'breaker. After enough consecutive failures the circuit opens: calls are answered at ' +
  'once with `503` and a `Retry-After` header, without reaching the dependency, until a ' +
  'trial call succeeds. Every error reply is a JSON `{ "error": string }` body.'

/** The tags routes file themselves under; a route's tag names one of these. */
const TAGS = [
  { name: 'service', description: 'The service and the dependency it guards' },
  { name: 'circuit breakers', description: 'The state of the circuit breakers' },
]

interface PackageJson {
  name: string
  version: string
}

/**
 * The OpenAPI 3.1 document of every route, and Swagger UI to browse it, at `/docs`.
 *
 * Register it before the routes: it documents only the routes added after it. The UI's
 * assets are served from the installed package, so the docs work without a network.
 */
async function apiDocs (app: FastifyInstance): Promise<void> {
  const packageUrl = new URL('../package.json', import.meta.url)
  const { name, version } = JSON.parse(await readFile(packageUrl, 'utf8')) as PackageJson

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: name, version, description: DESCRIPTION },
      tags: TAGS,
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'The `ADMIN_TOKEN`' },
        },
      },
    },
  })
  await app.register(swaggerUi, { routePrefix: DOCS_PREFIX })
}

export default fp(apiDocs, { name: 'api-docs' })
