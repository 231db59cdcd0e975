import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

/**
 * Once the app is closing, each reply tells its client to close the connection. Node
 * closes idle keep-alive connections when the server closes, but one busy then stays
 * open after its last response and holds the server, and so the exit, until the client
 * gives up on it.
 */
async function gracefulClose (app: FastifyInstance): Promise<void> {
  let closing = false

  app.addHook('preClose', async () => {
    closing = true
  })

  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close')
    done(null, payload)
  })
}

export default fp(gracefulClose, { name: 'graceful-close' })
