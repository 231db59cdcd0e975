import t from 'tap'

import { scriptedRandom, serviceApp } from '../helpers/apps.ts'
import { fakeClock } from '../helpers/clock.ts'
import { LEVELS } from '../helpers/logs.ts'

const TOKEN = 'a-long-enough-admin-token'
const asAdmin = { authorization: `Bearer ${TOKEN}` }

function act (action: string, headers: Record<string, string> = asAdmin, name = 'default') {
  return { method: 'POST' as const, url: `/circuitbreakers/${name}`, headers, payload: { action } }
}

t.test('isolate holds the circuit open until released, however long it waits', async (t) => {
  const clock = fakeClock(t)
  const { app } = await serviceApp(t, { env: { ADMIN_TOKEN: TOKEN } })

  const isolated = await app.inject(act('isolate'))
  t.equal(isolated.statusCode, 200)
  t.same(isolated.json(), {
    name: 'default', state: 'isolated', failure_count: 0, opened_at: null, next_trial_at: null,
  })

  clock.tick(3_600_000)
  const rejected = await app.inject('/unstable')
  t.equal(rejected.statusCode, 503)
  t.equal(rejected.headers['retry-after'], '10')

  const released = await app.inject(act('release'))
  t.match(released.json(), { state: 'closed' })
  t.equal((await app.inject('/unstable')).statusCode, 200)
})

t.test('isolating twice is one isolation: one release ends it', async (t) => {
  const { app } = await serviceApp(t, { env: { ADMIN_TOKEN: TOKEN } })

  await app.inject(act('isolate'))
  await app.inject(act('isolate'))
  const released = await app.inject(act('release'))

  t.match(released.json(), { state: 'closed' })
})

t.test('reset closes an open circuit and clears its count', async (t) => {
  fakeClock(t)
  const { app } = await serviceApp(t, {
    env: { ADMIN_TOKEN: TOKEN },
    random: scriptedRandom(0, 0, 0, 0.99),
  })
  for (let i = 0; i < 3; i++) await app.inject('/unstable')

  const reset = await app.inject(act('reset'))

  t.same(reset.json(), {
    name: 'default', state: 'closed', failure_count: 0, opened_at: null, next_trial_at: null,
  })
  t.equal((await app.inject('/unstable')).statusCode, 200)
})

t.test('what cannot be done in the current state is a 409', async (t) => {
  const { app } = await serviceApp(t, { env: { ADMIN_TOKEN: TOKEN } })

  const release = await app.inject(act('release'))
  t.equal(release.statusCode, 409)
  t.same(release.json(), { error: 'circuit breaker "default" is not isolated by hand' })

  await app.inject(act('isolate'))
  const reset = await app.inject(act('reset'))
  t.equal(reset.statusCode, 409)
  t.same(reset.json(), { error: 'circuit breaker "default" is isolated: release it first' })
})

t.test('without a token: 401 with WWW-Authenticate; with a wrong one too', async (t) => {
  const { app } = await serviceApp(t, { env: { ADMIN_TOKEN: TOKEN } })

  const missing = await app.inject(act('isolate', {}))
  t.equal(missing.statusCode, 401)
  t.equal(missing.headers['www-authenticate'], 'Bearer realm="circuit-breakers"')
  t.same(missing.json(), { error: 'missing authorization header' })

  const wrong = await app.inject(act('isolate', { authorization: 'Bearer not-the-token-at-all' }))
  t.equal(wrong.statusCode, 401)
  t.equal(wrong.headers['www-authenticate'],
    'Bearer realm="circuit-breakers", error="invalid_token"')
  t.same(wrong.json(), { error: 'invalid authorization header' })

  t.match((await app.inject('/circuitbreaker')).json(), { state: 'closed' }, 'nothing changed')
})

t.test('the scheme name is case-insensitive, as HTTP says', async (t) => {
  const { app } = await serviceApp(t, { env: { ADMIN_TOKEN: TOKEN } })

  const lowercase = await app.inject(act('isolate', { authorization: `bearer ${TOKEN}` }))

  t.equal(lowercase.statusCode, 200)
})

t.test('with no ADMIN_TOKEN, manual control is off: 403, said once at start', async (t) => {
  const { app, logs } = await serviceApp(t)

  const refused = await app.inject(act('isolate'))

  t.equal(refused.statusCode, 403)
  t.same(refused.json(), { error: 'manual control is off: no ADMIN_TOKEN is configured' })
  const notices = logs.filter((line) => line.msg.startsWith('manual control is off'))
  t.equal(notices.length, 1)
  t.equal(notices[0]?.level, LEVELS.warn)
})

t.test('unknown breaker: 404; bad body: 400 naming the problem', async (t) => {
  const { app } = await serviceApp(t, { env: { ADMIN_TOKEN: TOKEN } })

  const unknown = await app.inject(act('reset', asAdmin, 'payments'))
  t.equal(unknown.statusCode, 404)
  t.same(unknown.json(), { error: 'no circuit breaker is named "payments"' })

  const badAction = await app.inject({ ...act('explode'), payload: { action: 'explode' } })
  t.equal(badAction.statusCode, 400)
  t.match(badAction.json(), { error: /action must be equal to one of the allowed values/ })

  const noBody = await app.inject({
    method: 'POST', url: '/circuitbreakers/default', headers: asAdmin,
  })
  t.equal(noBody.statusCode, 400)
  t.match(noBody.json(), { error: String })

  const notJson = await app.inject({
    method: 'POST',
    url: '/circuitbreakers/default',
    headers: { ...asAdmin, 'content-type': 'application/json' },
    payload: '{"action":',
  })
  t.equal(notJson.statusCode, 400)
  t.match(notJson.json(), { error: String })
})

t.test('every manual action is logged with the breaker and the client address', async (t) => {
  const { app, logs } = await serviceApp(t, { env: { ADMIN_TOKEN: TOKEN } })

  await app.inject(act('isolate'))

  t.match(logs.find((line) => line.msg === 'manual circuit breaker action'), {
    level: LEVELS.info, action: 'isolate', breaker: 'default', client: '127.0.0.1',
  })
})
