import t from 'tap'

import { scriptedRandom, serviceApp } from '../helpers/apps.ts'
import { fakeClock } from '../helpers/clock.ts'

t.test('GET /circuitbreakers lists every breaker with its kind and options', async (t) => {
  fakeClock(t)
  const { app } = await serviceApp(t, {
    env: { FAIL_MAX: '2', RESET_TIMEOUT: '5' },
    random: scriptedRandom(0),
  })
  await app.inject('/unstable')

  const response = await app.inject('/circuitbreakers')

  t.equal(response.statusCode, 200)
  t.same(response.json(), {
    breakers: [{
      name: 'default',
      state: 'closed',
      failure_count: 1,
      opened_at: null,
      next_trial_at: null,
      kind: 'consecutive',
      options: {
        policy: { kind: 'consecutive', threshold: 2 },
        halfOpenAfter: 5000,
        halfOpenSampling: { calls: 1, threshold: 0 },
        timeout: null,
      },
    }],
  })
})

t.test('GET /circuitbreaker keeps its contract beside the list', async (t) => {
  const { app } = await serviceApp(t)

  const single = (await app.inject('/circuitbreaker')).json()
  const listed = (await app.inject('/circuitbreakers')).json().breakers[0]

  t.same(single, {
    name: 'default', state: 'closed', failure_count: 0, opened_at: null, next_trial_at: null,
  })
  t.match(listed, single)
})
