'use strict'
// Argument checks with Node's own error codes. Types and shapes are checked here; ranges and
// everything about wasm are decided natively.

const { WasmError, argType, argValue } = require('./errors')

const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v)

function checkObject(name, value, allowedKeys) {
  if (value === undefined) return undefined
  if (!isPlainObject(value)) throw argType(name, 'an object', value)
  for (const key of Object.keys(value)) {
    if (!allowedKeys.includes(key)) {
      throw argValue(`${name}.${key}`, `unknown option; known options are ${allowedKeys.join(', ')}`)
    }
  }
  return value
}

function checkType(name, value, type) {
  if (value !== undefined && typeof value !== type) throw argType(name, `of type ${type}`, value)
  return value
}

function checkStringArray(name, value) {
  if (value === undefined) return undefined
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw argType(name, 'an array of strings', value)
  }
  return value
}

const LIMIT_KEYS = ['memoryBytes', 'stackBytes', 'tableElements', 'fuel', 'timeoutMs', 'openFiles']
const CAPACITY_KEYS = ['maxInstances', 'maxQueued', 'maxTotalMemoryBytes']

function checkLimits(name, limits) {
  if (checkObject(name, limits, LIMIT_KEYS) === undefined) return undefined
  const out = {}
  for (const key of LIMIT_KEYS) {
    if (limits[key] !== undefined) out[key] = checkType(`${name}.${key}`, limits[key], 'number')
  }
  return out
}

// `label` (the execution's ExecuteOptions.label) rides with the HTTP grant, so that the http
// handler is told which execution a request hop is for.
function checkCapabilities(caps, label) {
  const name = 'options.capabilities'
  if (checkObject(name, caps, ['http', 'fs', 'env', 'args']) === undefined) return undefined
  const out = {}
  if (caps.http !== undefined) {
    const http = checkObject(`${name}.http`, caps.http, ['allow', 'maxConcurrent', 'maxResponseBytes', 'timeoutMs'])
    if (http.allow === undefined) throw argValue(`${name}.http.allow`, 'is required when http is granted')
    out.http = { allow: checkStringArray(`${name}.http.allow`, http.allow) }
    for (const key of ['maxConcurrent', 'maxResponseBytes', 'timeoutMs']) {
      if (http[key] !== undefined) out.http[key] = checkType(`${name}.http.${key}`, http[key], 'number')
    }
    if (label !== undefined) out.http.label = label
  }
  if (caps.fs !== undefined) {
    const fs = checkObject(`${name}.fs`, caps.fs, ['preopens'])
    if (!Array.isArray(fs.preopens)) throw argType(`${name}.fs.preopens`, 'an array', fs.preopens)
    out.fs = {
      preopens: fs.preopens.map((p, i) => {
        const at = `${name}.fs.preopens[${i}]`
        checkObject(at, p, ['hostPath', 'guestPath', 'readonly'])
        if (p === undefined) throw argType(at, 'an object', p)
        if (typeof p.hostPath !== 'string') throw argType(`${at}.hostPath`, 'of type string', p.hostPath)
        if (typeof p.guestPath !== 'string') throw argType(`${at}.guestPath`, 'of type string', p.guestPath)
        return { hostPath: p.hostPath, guestPath: p.guestPath, readonly: checkType(`${at}.readonly`, p.readonly, 'boolean') }
      }),
    }
  }
  if (caps.env !== undefined) {
    if (!isPlainObject(caps.env)) throw argType(`${name}.env`, 'an object of strings', caps.env)
    for (const [k, v] of Object.entries(caps.env)) checkType(`${name}.env.${k}`, v, 'string')
    out.env = caps.env
  }
  if (caps.args !== undefined) out.args = checkStringArray(`${name}.args`, caps.args)
  return out
}

function isAbortSignal(value) {
  return value !== null && typeof value === 'object' && typeof value.aborted === 'boolean' && typeof value.addEventListener === 'function'
}

function checkSignal(name, value) {
  if (value !== undefined && !isAbortSignal(value)) throw argType(name, 'an AbortSignal', value)
  return value
}

/** `imports`: interface (or core module) name → function name → function. */
function checkImports(name, imports) {
  if (imports === undefined) return undefined
  if (!isPlainObject(imports)) throw argType(name, 'an object of interfaces', imports)
  for (const [module, functions] of Object.entries(imports)) {
    const at = `${name}['${module}']`
    if (!isPlainObject(functions)) throw argType(at, 'an object of functions', functions)
    for (const [fn, impl] of Object.entries(functions)) {
      if (typeof impl !== 'function') throw argType(`${at}['${fn}']`, 'a function', impl)
    }
  }
  return imports
}

/** The [module, name] pairs of an `imports` object, as the native link check takes them. */
function importList(imports) {
  const out = []
  for (const [module, functions] of Object.entries(imports || {})) {
    for (const name of Object.keys(functions)) out.push({ module, name })
  }
  return out
}

const EXECUTE_KEYS = ['export', 'limits', 'capabilities', 'signal', 'onLog', 'onEvent', 'label', 'imports']

function checkExecuteOptions(options, keys = EXECUTE_KEYS) {
  checkObject('options', options, keys)
  const o = options || {}
  checkType('options.export', o.export, 'string')
  checkType('options.onLog', o.onLog, 'function')
  checkType('options.onEvent', o.onEvent, 'function')
  checkType('options.label', o.label, 'string')
  checkSignal('options.signal', o.signal)
  return {
    native: { export: o.export, limits: checkLimits('options.limits', o.limits), capabilities: checkCapabilities(o.capabilities, o.label) },
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
  checkObject('options', options, ['timeoutMs', 'limits', 'label', 'export'])
  const o = options || {}
  checkType('options.timeoutMs', o.timeoutMs, 'number')
  if (o.timeoutMs !== undefined && !(o.timeoutMs > 0 && o.timeoutMs <= SYNC_TIMEOUT_MS.max)) {
    throw argValue('options.timeoutMs', `must be more than 0 and at most ${SYNC_TIMEOUT_MS.max} (a synchronous call holds the JS thread); received ${o.timeoutMs}`)
  }
  const limits = checkLimits('options.limits', o.limits) || {}
  if (limits.timeoutMs !== undefined) {
    throw argValue('options.limits.timeoutMs', 'is not used by a synchronous call: its deadline is options.timeoutMs')
  }
  checkType('options.label', o.label, 'string')
  checkType('options.export', o.export, 'string')
  return { native: { export: o.export, limits: { ...limits, timeoutMs: o.timeoutMs ?? SYNC_TIMEOUT_MS.default } }, label: o.label }
}

function toInputJson(input) {
  let text
  try {
    text = JSON.stringify(input === undefined ? null : input)
  } catch (e) {
    throw new WasmError(`The "input" argument must be JSON-serialisable: ${e.message}`, 'ERR_INVALID_ARG_VALUE', { cause: e })
  }
  if (text === undefined) throw argType('input', 'a JSON-serialisable value', input)
  return text
}

function checkArgs(args) {
  if (args === undefined) return []
  if (!Array.isArray(args)) throw argType('args', 'an array of the function\'s arguments', args)
  return args
}

module.exports = {
  CAPACITY_KEYS,
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
  toInputJson,
}
