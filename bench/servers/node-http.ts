// The floor: node:http with no framework, answering the same JSON as every other variant.
import { createServer } from 'node:http'

import { readQuote } from './dependency.ts'
import { HOST, ROUTE_PATH, serveMeasured } from './harness.ts'

const server = createServer((request, response) => {
  if (request.url !== ROUTE_PATH) {
    response.writeHead(404).end()
    return
  }
  const body = JSON.stringify(readQuote())
  response.writeHead(200, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  })
  response.end(body)
})

server.listen(0, HOST, () => serveMeasured(server, () => { server.close() }))
