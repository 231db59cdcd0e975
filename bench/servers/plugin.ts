// The plugin as its users run it: JavaScript built from plugins/circuit-breaker by the
// bench (see bench/run.ts), not the TypeScript source. Node would strip the source's
// types at load time, and the type stripper's memory (over 10 MB for the plugin's files)
// would swamp the RSS comparison. Started by hand, a server falls back to the source.
import { BUILT_PLUGIN_ENV } from './harness.ts'

type PluginModule = typeof import('../../plugins/circuit-breaker/index.ts')

const source = new URL('../../plugins/circuit-breaker/index.ts', import.meta.url).href
const built = process.env[BUILT_PLUGIN_ENV]

const plugin = await import(built ?? source) as PluginModule
export const circuitBreaker = plugin.default
