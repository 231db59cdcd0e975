import t from 'tap'

import { pluginApp } from '../helpers/apps.ts'
import { fakeClock } from '../helpers/clock.ts'
import { LEVELS, transitions } from '../helpers/logs.ts'

const fail = (): never => { throw new Error('dependency down') }

t.test('each transition is logged once, with breaker, from, to and why', async (t) => {
  const clock = fakeClock(t)
  const { app, logs } = await pluginApp(t, {
    name: 'inventory', threshold: 2, halfOpenAfter: 1_000,
  })
  const breaker = app.circuitBreaker

  await t.rejects(breaker.execute(fail))
  t.same(transitions(logs), [], 'one failure below the threshold changes nothing')
  await t.rejects(breaker.execute(fail))
  await t.rejects(breaker.execute(fail), { code: 'FST_BREAKER_CIRCUIT_OPEN' })

  clock.tick(1_000)
  await t.rejects(breaker.execute(fail))
  clock.tick(1_000)
  await breaker.execute(() => 'ok')

  const logged = transitions(logs)
  t.match(logged, [
    {
      level: LEVELS.warn,
      breaker: 'inventory',
      from: 'closed',
      to: 'open',
      reason: 'failure threshold reached',
      msg: 'circuit opened',
      err: { type: 'Error', message: 'dependency down' }
    },
    {
      level: LEVELS.info,
      breaker: 'inventory',
      from: 'open',
      to: 'half-open',
      reason: 'open duration elapsed',
      msg: 'circuit half-open'
    },
    {
      level: LEVELS.warn,
      breaker: 'inventory',
      from: 'half-open',
      to: 'open',
      reason: 'trial call failed',
      msg: 'circuit opened',
      err: { message: 'dependency down' }
    },
    { level: LEVELS.info, breaker: 'inventory', from: 'open', to: 'half-open' },
    {
      level: LEVELS.info,
      breaker: 'inventory',
      from: 'half-open',
      to: 'closed',
      reason: 'trial call succeeded',
      msg: 'circuit closed'
    },
  ])
  t.equal(logged.length, 5, 'nothing logged twice')
  t.notOk('err' in logged[1]! || 'err' in logged[4]!, 'only openings carry the failure')
})

t.test('isolation and its release are logged with their reason', async (t) => {
  const { app, logs } = await pluginApp(t)

  const handle = app.circuitBreaker.isolate()
  handle.dispose()

  t.match(transitions(logs), [
    { level: LEVELS.warn, from: 'closed', to: 'isolated', reason: 'isolated by hand' },
    { level: LEVELS.info, from: 'isolated', to: 'closed', reason: 'isolation released' },
  ])
})

t.test('after app.close() the breaker no longer logs', async (t) => {
  const { app, logs } = await pluginApp(t, { threshold: 1 })
  const breaker = app.circuitBreaker

  await app.close()
  await t.rejects(breaker.execute(fail))

  t.same(transitions(logs), [])
})
