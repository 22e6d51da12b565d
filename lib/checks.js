'use strict'
// Argument checks with Node's own error codes. Types and shapes are checked here; ranges and
// everything about wasm are decided natively.

const { WasmError, argType, argValue, clip } = require('./errors')

// Every option is read once, as an own property, into a plain snapshot that is then checked and
// used: nothing is read through the prototype chain (a polluted Object.prototype grants nothing),
// and a getter or Proxy cannot answer one value to the check and another to the use.

function isPlainObject(v) {
  try {
    return v !== null && typeof v === 'object' && !Array.isArray(v)
  } catch {
    return false // a revoked Proxy
  }
}

/** What an exception says, whatever was thrown (its own getters may throw too). */
function thrownMessage(e) {
  try {
    return e instanceof Error ? String(e.message) : String(e)
  } catch {
    return 'a value that cannot be shown'
  }
}

function unreadable(name, e) {
  return argValue(name, `could not be read: ${thrownMessage(e)}`)
}

/**
 * The own enumerable properties of option object `value`, each read once, in a null-prototype
 * snapshot; `allowedKeys` (when given) are the only keys it may have.
 */
function checkObject(name, value, allowedKeys) {
  if (value === undefined) return undefined
  let keys
  try {
    if (!isPlainObject(value)) throw argType(name, 'an object', value)
    keys = Object.keys(value)
  } catch (e) {
    throw e instanceof WasmError ? e : unreadable(name, e)
  }
  const out = Object.create(null)
  for (const key of keys) {
    if (allowedKeys !== undefined && !allowedKeys.includes(key)) {
      throw argValue(`${name}.${clip(key, 64)}`, `unknown option; known options are ${allowedKeys.join(', ')}`)
    }
    try {
      out[key] = value[key]
    } catch (e) {
      throw unreadable(`${name}.${key}`, e)
    }
  }
  return out
}

/**
 * `fields` as a null-prototype object: what crosses to the native side is read there with
 * plain property gets, which would otherwise find a field missing here on Object.prototype.
 */
const bare = (fields) => Object.assign(Object.create(null), fields)

/** An empty snapshot, for options not given. */
const NONE = Object.freeze(Object.create(null))

function checkType(name, value, type) {
  if (value !== undefined && typeof value !== type) throw argType(name, `of type ${type}`, value)
  return value
}

/** A copy of an array option, each element read once; longer than `max` is refused before reading. */
function copyArray(name, value, max, what) {
  if (value === undefined) return undefined
  let length
  try {
    if (!Array.isArray(value)) throw argType(name, what, value)
    length = value.length
  } catch (e) {
    throw e instanceof WasmError ? e : unreadable(name, e)
  }
  if (length > max) throw argValue(name, `has ${length} elements; at most ${max} are taken`)
  const out = new Array(length)
  for (let i = 0; i < length; i++) {
    try {
      out[i] = value[i]
    } catch (e) {
      throw unreadable(`${name}[${i}]`, e)
    }
  }
  return out
}

function checkStringArray(name, value, max) {
  const out = copyArray(name, value, max, 'an array of strings')
  if (out !== undefined && !out.every((v) => typeof v === 'string')) throw argType(name, 'an array of strings', value)
  return out
}

const LIMIT_KEYS = ['memoryBytes', 'stackBytes', 'tableElements', 'fuel', 'timeoutMs', 'openFiles']
const CAPACITY_KEYS = ['maxInstances', 'maxQueued', 'maxTotalMemoryBytes']

function checkLimits(name, limits) {
  const given = checkObject(name, limits, LIMIT_KEYS)
  if (given === undefined) return undefined
  const out = bare()
  for (const key of LIMIT_KEYS) {
    if (given[key] !== undefined) out[key] = checkType(`${name}.${key}`, given[key], 'number')
  }
  return out
}

// The most hosts an HTTP grant may list, and directories a filesystem grant may preopen.
const MAX_ALLOW = 1000
const MAX_PREOPENS = 64

// `label` (the execution's ExecuteOptions.label) rides with the HTTP grant, so that the http
// handler is told which execution a request hop is for.
function checkCapabilities(given, label) {
  const name = 'options.capabilities'
  const caps = checkObject(name, given, ['http', 'fs', 'env', 'args'])
  if (caps === undefined) return undefined
  const out = bare()
  if (caps.http !== undefined) {
    const http = checkObject(`${name}.http`, caps.http, ['allow', 'maxConcurrent', 'maxResponseBytes', 'timeoutMs'])
    if (http.allow === undefined) throw argValue(`${name}.http.allow`, 'is required when http is granted')
    out.http = bare({ allow: checkStringArray(`${name}.http.allow`, http.allow, MAX_ALLOW) })
    for (const key of ['maxConcurrent', 'maxResponseBytes', 'timeoutMs']) {
      if (http[key] !== undefined) out.http[key] = checkType(`${name}.http.${key}`, http[key], 'number')
    }
    if (label !== undefined) out.http.label = label
  }
  if (caps.fs !== undefined) {
    const fs = checkObject(`${name}.fs`, caps.fs, ['preopens'])
    const preopens = copyArray(`${name}.fs.preopens`, fs.preopens, MAX_PREOPENS, 'an array')
    if (preopens === undefined) throw argType(`${name}.fs.preopens`, 'an array', fs.preopens)
    out.fs = bare({
      preopens: preopens.map((given, i) => {
        const at = `${name}.fs.preopens[${i}]`
        if (given === undefined) throw argType(at, 'an object', given)
        const p = checkObject(at, given, ['hostPath', 'guestPath', 'readonly'])
        if (typeof p.hostPath !== 'string') throw argType(`${at}.hostPath`, 'of type string', p.hostPath)
        if (typeof p.guestPath !== 'string') throw argType(`${at}.guestPath`, 'of type string', p.guestPath)
        return bare({ hostPath: p.hostPath, guestPath: p.guestPath, readonly: checkType(`${at}.readonly`, p.readonly, 'boolean') })
      }),
    })
  }
  if (caps.env !== undefined) {
    if (!isPlainObject(caps.env)) throw argType(`${name}.env`, 'an object of strings', caps.env)
    const env = checkObject(`${name}.env`, caps.env)
    for (const k of Object.keys(env)) checkType(`${name}.env.${clip(k, 64)}`, env[k], 'string')
    out.env = bare(env)
  }
  if (caps.args !== undefined) out.args = checkStringArray(`${name}.args`, caps.args, MAX_ALLOW)
  return out
}

function checkSignal(name, value) {
  if (value !== undefined && !(value instanceof AbortSignal)) throw argType(name, 'an AbortSignal', value)
  return value
}

/**
 * `imports`: interface (or core module) name → function name → function, copied into
 * null-prototype tables (so that `__proto__` or `constructor` is just a name).
 */
function checkImports(name, imports) {
  if (imports === undefined) return undefined
  if (!isPlainObject(imports)) throw argType(name, 'an object of interfaces', imports)
  const out = Object.create(null)
  const given = checkObject(name, imports)
  for (const module of Object.keys(given)) {
    const at = `${name}['${clip(module, 64)}']`
    if (!isPlainObject(given[module])) throw argType(at, 'an object of functions', given[module])
    const functions = checkObject(at, given[module])
    for (const fn of Object.keys(functions)) {
      if (typeof functions[fn] !== 'function') throw argType(`${at}['${clip(fn, 64)}']`, 'a function', functions[fn])
    }
    out[module] = functions
  }
  return out
}

/** The [module, name] pairs of an `imports` object, as the native link check takes them. */
function importList(imports) {
  const out = []
  for (const [module, functions] of Object.entries(imports || {})) {
    for (const name of Object.keys(functions)) out.push(bare({ module, name }))
  }
  return out
}

const EXECUTE_KEYS = ['export', 'limits', 'capabilities', 'signal', 'onLog', 'onEvent', 'label', 'imports']

function checkExecuteOptions(options, keys = EXECUTE_KEYS) {
  const o = checkObject('options', options, keys) ?? NONE
  checkType('options.export', o.export, 'string')
  checkType('options.onLog', o.onLog, 'function')
  checkType('options.onEvent', o.onEvent, 'function')
  checkType('options.label', o.label, 'string')
  checkSignal('options.signal', o.signal)
  return {
    native: bare({ export: o.export, limits: checkLimits('options.limits', o.limits), capabilities: checkCapabilities(o.capabilities, o.label) }),
    signal: o.signal,
    onLog: o.onLog,
    onEvent: o.onEvent,
    label: o.label,
    imports: checkImports('options.imports', o.imports),
  }
}

/** A synchronous call's deadline when none is given, and the longest it may ask for: it holds
 *  the JS thread for all that time. */
const SYNC_TIMEOUT_MS = { default: 50, max: 1000 }

/** The SyncOptions of executeProbeSync / callSync, checked, as the native call takes them. */
function checkSyncOptions(options) {
  const o = checkObject('options', options, ['timeoutMs', 'limits', 'label', 'export']) ?? NONE
  checkType('options.timeoutMs', o.timeoutMs, 'number')
  if (o.timeoutMs !== undefined && !(o.timeoutMs > 0 && o.timeoutMs <= SYNC_TIMEOUT_MS.max)) {
    throw argValue('options.timeoutMs', `must be more than 0 and at most ${SYNC_TIMEOUT_MS.max} (a synchronous call holds the JS thread); received ${o.timeoutMs}`)
  }
  const limits = checkLimits('options.limits', o.limits) || bare()
  if (limits.timeoutMs !== undefined) {
    throw argValue('options.limits.timeoutMs', 'is not used by a synchronous call: its deadline is options.timeoutMs')
  }
  checkType('options.label', o.label, 'string')
  checkType('options.export', o.export, 'string')
  return { native: bare({ export: o.export, limits: bare({ ...limits, timeoutMs: o.timeoutMs ?? SYNC_TIMEOUT_MS.default }) }), label: o.label }
}

/** The most values (array items, object fields) an input may hold, as for typed values. */
const MAX_INPUT_ITEMS = 1_000_000

function toInputJson(input) {
  let text
  // JSON.stringify alone would walk a small value that repeats one part (`x = [x, x]` thirty
  // times) for minutes: the replacer counts every value it writes, repetitions included.
  let items = 0
  const counted = (_key, value) => {
    if (++items > MAX_INPUT_ITEMS) throw new RangeError(`it holds more than ${MAX_INPUT_ITEMS} values (repetitions of shared parts counted)`)
    return value
  }
  try {
    text = JSON.stringify(input === undefined ? null : input, counted)
  } catch (e) {
    throw new WasmError(`The "input" argument must be JSON-serialisable: ${thrownMessage(e)}`, 'ERR_INVALID_ARG_VALUE', { cause: e })
  }
  if (text === undefined) throw argType('input', 'a JSON-serialisable value', input)
  return text
}

/** The most arguments a typed call takes (a WIT function has a handful). */
const MAX_ARGS = 1000

function checkArgs(args) {
  if (args === undefined) return []
  return copyArray('args', args, MAX_ARGS, 'an array of the function\'s arguments')
}

module.exports = {
  CAPACITY_KEYS,
  NONE,
  bare,
  checkArgs,
  checkCapabilities,
  checkExecuteOptions,
  checkImports,
  checkLimits,
  checkObject,
  checkSignal,
  checkSyncOptions,
  checkType,
  importList,
  thrownMessage,
  toInputJson,
}
