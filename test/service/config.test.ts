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
  })
})

t.test('values are read from the environment, fractions of a second allowed', async (t) => {
  t.match(loadConfig({ PORT: '8080', FAIL_MAX: '5', RESET_TIMEOUT: '0.25', FAILURE_RATE: '1' }), {
    PORT: 8080, FAIL_MAX: 5, RESET_TIMEOUT: 0.25, FAILURE_RATE: 1,
  })
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
]

for (const [variable, value] of invalid) {
  t.test(`${variable}=${value} is refused, naming the variable`, async (t) => {
    t.throws(() => loadConfig({ [variable]: value }), { message: new RegExp(variable) })
  })
}
