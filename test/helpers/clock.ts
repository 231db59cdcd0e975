import FakeTimers, { type Clock } from '@sinonjs/fake-timers'

interface Teardown {
  teardown (fn: () => void): void
}

/**
 * Fakes `Date` for one test and restores it at its end. cockatiel and the plugin read
 * time only through `Date.now()`, so timers stay real and Fastify keeps working.
 */
export function fakeClock (t: Teardown, now = Date.UTC(2026, 0, 1)): Clock {
  const clock = FakeTimers.install({ now, toFake: ['Date'] })
  t.teardown(() => clock.uninstall())
  return clock
}
