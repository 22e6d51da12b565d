// The modules directory: every .wasm / .wat file, registered under its path relative to the
// directory without the extension ('echo', or 'c/greet' for c/greet.wasm), compiled at start.
import { readdirSync } from 'node:fs'
import { join, relative, sep } from 'node:path'
import { ConfigError, grantOf } from './config.js'
import { forbidden, notFound } from './errors.js'

const GUEST = /\.(wasm|wat)$/

function guestFiles(dir) {
  const files = []
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && GUEST.test(entry.name)) files.push(join(entry.parentPath ?? entry.path, entry.name))
  }
  return files.sort()
}

/** Loads every guest of `dir`; one that fails to load is logged and left out. */
export async function loadModules(runtime, dir, policy, log) {
  const byName = new Map()
  for (const file of guestFiles(dir)) {
    const name = relative(dir, file).replace(GUEST, '').split(sep).join('/')
    if (byName.has(name)) throw new ConfigError(`--modules ${dir}: ${byName.get(name)} and ${file} would both be module "${name}"`)
    byName.set(name, file)
  }
  if (byName.size === 0) throw new ConfigError(`--modules ${dir}: no .wasm or .wat file in it`)
  for (const name of Object.keys(policy.modules)) {
    if (!byName.has(name)) throw new ConfigError(`the policy names module "${name}", which is not in ${dir}`)
  }
  const modules = new Map()
  await Promise.all(
    [...byName].map(async ([name, file]) => {
      try {
        const module = await runtime.loadModule(file, { name })
        // Typed calls look their function up by name, once per request: a map made here.
        const functions = new Map(module.functions.map((fn) => [fn.name, fn]))
        modules.set(name, { name, file, module, functions, grant: grantOf(policy, name) })
      } catch (e) {
        log.error({ module: name, file, code: e.code, err: e.message }, 'module not loaded')
      }
    }),
  )
  if (modules.size === 0) throw new ConfigError(`--modules ${dir}: none of its guests loaded`)
  return new Modules(modules)
}

export class Modules {
  #byName
  constructor(byName) {
    this.#byName = new Map([...byName].sort(([a], [b]) => (a < b ? -1 : 1)))
  }

  get size() {
    return this.#byName.size
  }

  /** The module a request may use: 403 when its token does not cover it, 404 when there is none. */
  resolve(access, name) {
    if (!access.mayUse(name)) throw forbidden(`the token of tenant "${access.tenant}" may not use module "${name}"`)
    const entry = this.#byName.get(name)
    if (!entry) throw notFound(`no module "${name}"`)
    return entry
  }

  /** What GET /v1/modules lists for a request. */
  describe(access) {
    const list = []
    for (const { name, module } of this.#byName.values()) {
      if (!access.mayUse(name)) continue
      list.push({ name, kind: module.kind, hash: module.hash, size: module.size, exports: module.exports, functions: module.functions })
    }
    return list
  }
}
