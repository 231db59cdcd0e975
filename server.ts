import closeWithGrace from 'close-with-grace'

import { buildApp } from './app.ts'
import { loadConfig, type Config } from './config.ts'

let config: Config
try {
  config = loadConfig(process.env, { envFile: '.env' })
} catch (error) {
  console.error(`Invalid configuration: ${(error as Error).message}`)
  process.exit(1)
}

const app = await buildApp({ config })

closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
  /* c8 ignore next: only an uncaught error gets here, and the process ends with it */
  if (err !== undefined) app.log.error({ err }, 'closing after an error')
  else app.log.info({ signal }, 'closing')
  await app.close()
})

await app.listen({ port: config.PORT, host: config.HOST })
