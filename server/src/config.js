// The command line, the policy file and the tokens file, checked before anything listens. A
// mistake in any of them is a ConfigError naming the flag, the file and the field.
import { readFileSync, statSync } from 'node:fs'
import { parseArgs } from 'node:util'

export class ConfigError extends Error {}

export const USAGE = `usage: wasm-probe-server --modules DIR [--port 3000] [--host 127.0.0.1] [--policy FILE] [--tokens FILE]
                         [--cache-dir DIR] [--max-instances N] [--max-queued N] [--workers N] [--drain-timeout-ms 10000]
                         [--log-level LEVEL]`

const FLAGS = {
  port: { type: 'string' },
  host: { type: 'string' },
  modules: { type: 'string' },
  policy: { type: 'string' },
  tokens: { type: 'string' },
  'cache-dir': { type: 'string' },
  'max-instances': { type: 'string' },
  'max-queued': { type: 'string' },
  workers: { type: 'string' },
  'drain-timeout-ms': { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
}

const TENANT = /^[A-Za-z0-9._-]{1,64}$/
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

function integerFlag(values, name, min, max) {
  const text = values[name]
  if (text === undefined) return undefined
  const n = Number(text)
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`--${name} must be an integer from ${min} to ${max}, not ${JSON.stringify(text)}`)
  return n
}

/** The server's configuration from its arguments; `{ help: true }` for --help. */
export function parseCommandLine(argv) {
  let values
  try {
    ;({ values } = parseArgs({ args: argv, options: FLAGS, strict: true, allowPositionals: false }))
  } catch (e) {
    throw new ConfigError(e.message)
  }
  if (values.help) return { help: true }
  if (!values.modules) throw new ConfigError('--modules DIR is required')
  let isDir = false
  try {
    isDir = statSync(values.modules).isDirectory()
  } catch {}
  if (!isDir) throw new ConfigError(`--modules ${values.modules}: not a directory`)
  const logLevel = values['log-level'] ?? 'info'
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`)
  return {
    port: integerFlag(values, 'port', 0, 65535) ?? 3000,
    host: values.host ?? '127.0.0.1',
    modulesDir: values.modules,
    policy: values.policy ? readPolicy(values.policy) : { modules: {}, defaults: {} },
    tokens: values.tokens ? readTokens(values.tokens) : null,
    cacheDir: values['cache-dir'],
    maxInstances: integerFlag(values, 'max-instances', 0, 1_000_000),
    maxQueued: integerFlag(values, 'max-queued', 0, 1_000_000),
    workerThreads: integerFlag(values, 'workers', 1, 64),
    drainMs: integerFlag(values, 'drain-timeout-ms', 0, 600_000) ?? 10_000,
    logLevel,
  }
}

function readJson(flag, file) {
  let text
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    throw new ConfigError(`--${flag} ${file}: cannot be read (${e.code || e.message})`)
  }
  try {
    return JSON.parse(text)
  } catch (e) {
    throw new ConfigError(`--${flag} ${file}: not JSON (${e.message})`)
  }
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v)

function expectObject(value, where) {
  if (!isObject(value)) throw new ConfigError(`${where} must be an object`)
  return value
}

function onlyKeys(value, keys, where) {
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) throw new ConfigError(`${where}.${key} is not a known field (expected ${keys.join(', ')})`)
  }
}

// What a module runs with. The runtime checks the values themselves when it runs them; here the
// shape is checked so that a typo fails at start, not at the first request.
function readGrant(value, where) {
  expectObject(value, where)
  onlyKeys(value, ['capabilities', 'limits'], where)
  const grant = {}
  if (value.capabilities !== undefined) grant.capabilities = expectObject(value.capabilities, `${where}.capabilities`)
  if (value.limits !== undefined) grant.limits = expectObject(value.limits, `${where}.limits`)
  return grant
}

/** `{ modules: { name: { capabilities, limits } }, defaults: { capabilities, limits } }`. */
export function readPolicy(file) {
  const raw = expectObject(readJson('policy', file), `--policy ${file}`)
  const where = `--policy ${file}:`
  onlyKeys(raw, ['modules', 'defaults'], `${where} policy`)
  const modules = {}
  for (const [name, value] of Object.entries(expectObject(raw.modules ?? {}, `${where} modules`))) {
    modules[name] = readGrant(value, `${where} modules.${name}`)
  }
  return { modules, defaults: raw.defaults === undefined ? {} : readGrant(raw.defaults, `${where} defaults`) }
}

/** `{ "<token>": { tenant, modules: [name | '*'] } }` → Map token → { tenant, modules: Set | '*' }. */
export function readTokens(file) {
  const raw = expectObject(readJson('tokens', file), `--tokens ${file}`)
  const tokens = new Map()
  for (const [token, value] of Object.entries(raw)) {
    const where = `--tokens ${file}: the entry of token #${tokens.size + 1}`
    expectObject(value, where)
    onlyKeys(value, ['tenant', 'modules'], where)
    if (typeof value.tenant !== 'string' || value.tenant === '') throw new ConfigError(`${where}: tenant must be a non-empty string`)
    // Tenants go into log lines, metric labels and the runtime label `tenant:module`.
    if (!TENANT.test(value.tenant)) throw new ConfigError(`${where}: tenant ${JSON.stringify(value.tenant)} may only have letters, digits, '.', '_' and '-'`)
    if (!Array.isArray(value.modules) || value.modules.some((m) => typeof m !== 'string')) {
      throw new ConfigError(`${where}: modules must be an array of module names or "*"`)
    }
    if (token.length < 8) throw new ConfigError(`${where}: the token is shorter than 8 characters`)
    tokens.set(token, { tenant: value.tenant, modules: value.modules.includes('*') ? '*' : new Set(value.modules) })
  }
  return tokens
}

/** What one module runs with: its own grant over the defaults, field by field. */
export function grantOf(policy, name) {
  const own = policy.modules[name] ?? {}
  const capabilities = { ...policy.defaults.capabilities, ...own.capabilities }
  const limits = { ...policy.defaults.limits, ...own.limits }
  return { capabilities, limits }
}
