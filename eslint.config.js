import neostandard from 'neostandard'

export default [
  // Build output, coverage and tap's own generated files are not ours to lint.
  { ignores: ['dist/**', 'coverage/**', '.tap/**'] },
  ...neostandard({ ts: true }),
]
