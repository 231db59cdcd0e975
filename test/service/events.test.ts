import t from 'tap'

import { EventHistory } from '../../plugins/event-history.ts'
import { scriptedRandom, serviceApp } from '../helpers/apps.ts'
import { fakeClock } from '../helpers/clock.ts'

const TOKEN = 'a-long-enough-admin-token'

t.test('GET /circuitbreakers/events: transitions and manual actions, newest first', async (t) => {
  const clock = fakeClock(t, Date.UTC(2026, 5, 1))
  const { app } = await serviceApp(t, {
    env: { ADMIN_TOKEN: TOKEN, FAIL_MAX: '1', RESET_TIMEOUT: '1' },
    random: scriptedRandom(0, 0.99),
  })

  await app.inject('/unstable')
  clock.tick(1_000)
  await app.inject('/unstable')
  await app.inject({
    method: 'POST',
    url: '/circuitbreakers/default',
    headers: { authorization: `Bearer ${TOKEN}` },
    payload: { action: 'isolate' },
  })

  const response = await app.inject('/circuitbreakers/events')

  t.equal(response.statusCode, 200)
  const event = (ms: number, type: string, from: string, to: string, reason: string) => ({
    time: new Date(Date.UTC(2026, 5, 1) + ms).toISOString(),
    breaker: 'default',
    type,
    from,
    to,
    reason,
  })
  t.same(response.json(), {
    events: [
      event(1000, 'action', 'closed', 'isolated', 'isolate by hand'),
      event(1000, 'transition', 'closed', 'isolated', 'isolated by hand'),
      event(1000, 'transition', 'half-open', 'closed', 'trial call succeeded'),
      event(1000, 'transition', 'open', 'half-open', 'open duration elapsed'),
      event(0, 'transition', 'closed', 'open', 'failure threshold reached'),
    ],
  })
})

t.test('events can be filtered by breaker and limited', async (t) => {
  const { app } = await serviceApp(t, { env: { FAIL_MAX: '1' }, random: scriptedRandom(0) })
  await app.inject('/unstable')

  const limited = (await app.inject('/circuitbreakers/events?limit=1&breaker=default')).json()
  t.equal(limited.events.length, 1)
  t.same((await app.inject('/circuitbreakers/events?breaker=payments')).json(), { events: [] })

  const badLimit = await app.inject('/circuitbreakers/events?limit=0')
  t.equal(badLimit.statusCode, 400)
  t.match(badLimit.json(), { error: /limit must be >= 1/ })
})

t.test('the history is a ring: it keeps the latest events only', async (t) => {
  const history = new EventHistory(3)
  for (let i = 1; i <= 5; i++) {
    history.add({ breaker: `b${i}`, type: 'transition', from: 'closed', to: 'open', reason: 'r' })
  }

  t.same(history.recent(10).map((event) => event.breaker), ['b5', 'b4', 'b3'])
  t.same(history.recent(10, 'b1'), [])
  t.same(history.recent(2).map((event) => event.breaker), ['b5', 'b4'])
})
