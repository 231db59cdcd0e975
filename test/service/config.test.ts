import t from 'tap'

import { loadConfig } from '../../config.ts'

t.test('defaults match the original design', async (t) => {
  t.same(loadConfig({}), {
    PORT: 5001,
    HOST: '0.0.0.0',
    FAIL_MAX: 3,
    RESET_TIMEOUT: 10,
    FAILURE_RATE: 0.5,
    LOG_LEVEL: 'info',
    UPSTREAM_TIMEOUT_MS: 2000,
    EVENT_HISTORY_SIZE: 200,
  })
})

t.test('a dotenv file is read too, and the environment wins over it', async (t) => {
  const dir = t.testdir({ '.env': 'FAIL_MAX=7\nFAILURE_RATE=0.1\n' })

  const config = loadConfig({ FAILURE_RATE: '0.9' }, { envFile: `${dir}/.env` })

  t.match(config, { FAIL_MAX: 7, FAILURE_RATE: 0.9 })
})

t.test('a missing dotenv file is no error', async (t) => {
  t.match(loadConfig({}, { envFile: `${t.testdirName}/nowhere/.env` }), { FAIL_MAX: 3 })
})

t.test('only the given environment is read', async (t) => {
  process.env.FAIL_MAX = '9'
  t.teardown(() => { delete process.env.FAIL_MAX })

  t.match(loadConfig({}), { FAIL_MAX: 3 })
})

t.test('HOST takes an IP address or a host name', async (t) => {
  for (const host of ['127.0.0.1', '::', '::1', 'localhost', 'api.internal', '0.0.0.0']) {
    t.equal(loadConfig({ HOST: host }).HOST, host)
  }
})

t.test('values are read from the environment, fractions of a second allowed', async (t) => {
  t.match(loadConfig({ PORT: '8080', FAIL_MAX: '5', RESET_TIMEOUT: '0.25', FAILURE_RATE: '1' }), {
    PORT: 8080, FAIL_MAX: 5, RESET_TIMEOUT: 0.25, FAILURE_RATE: 1,
  })
})

t.test('an upstream is an absolute http(s) URL, with a timeout in milliseconds', async (t) => {
  const config = loadConfig({
    UPSTREAM_URL: 'https://prices.internal:8443/v1/prices?currency=eur',
    UPSTREAM_TIMEOUT_MS: '250',
  })

  t.match(config, {
    UPSTREAM_URL: 'https://prices.internal:8443/v1/prices?currency=eur',
    UPSTREAM_TIMEOUT_MS: 250,
  })

  const ipv6 = 'http://[::1]:8080/'
  t.match(loadConfig({ UPSTREAM_URL: ipv6 }), { UPSTREAM_URL: ipv6 })
})

const invalid: Array<[string, string]> = [
  ['PORT', '70000'],
  ['PORT', 'http'],
  ['FAIL_MAX', '0'],
  ['FAIL_MAX', '2.5'],
  ['RESET_TIMEOUT', '-1'],
  ['RESET_TIMEOUT', 'soon'],
  ['FAILURE_RATE', '1.5'],
  ['LOG_LEVEL', 'loud'],
  ['UPSTREAM_URL', 'localhost:8080'],
  ['UPSTREAM_URL', '/prices'],
  ['UPSTREAM_URL', 'ftp://prices.internal/'],
  ['UPSTREAM_URL', 'http://'],
  ['UPSTREAM_TIMEOUT_MS', '0'],
  ['UPSTREAM_TIMEOUT_MS', '1.5'],
  ['UPSTREAM_TIMEOUT_MS', '2147483648'],
  ['ADMIN_TOKEN', 'short'],
  ['ADMIN_TOKEN', '                    '],
  ['HOST', 'not a host!'],
  ['HOST', ''],
  ['FAILURE_RATE', 'Infinity'],
  ['RESET_TIMEOUT', 'Infinity'],
  ['FAIL_MAX', '1e400'],
  ['UPSTREAM_TIMEOUT_MS', 'Infinity'],
  ['EVENT_HISTORY_SIZE', '-Infinity'],
  ['EVENT_HISTORY_SIZE', '0'],
]

for (const [variable, value] of invalid) {
  t.test(`${variable}=${value} is refused, naming the variable`, async (t) => {
    t.throws(() => loadConfig({ [variable]: value }), { message: new RegExp(variable) })
  })
}
