'use strict'
// WasmError and the argument errors, with Node's own codes for bad arguments.

class WasmError extends Error {
  /**
   * @param {string} message
   * @param {string} [code]
   * @param {{ trap?: object, metrics?: object, logs?: object[], payload?: unknown, cause?: unknown }} [details]
   */
  constructor(message, code = 'ERR_WASM_HOST', details = {}) {
    super(clip(message), details.cause === undefined ? undefined : { cause: details.cause })
    this.name = 'WasmError'
    this.code = code
    if (details.trap !== undefined) this.trap = details.trap
    if (details.metrics !== undefined) this.metrics = details.metrics
    if (details.logs !== undefined) this.logs = details.logs
    if ('payload' in details) this.payload = details.payload
  }
}

/** The longest message a WasmError carries; what is cut is counted, not shown. */
const MAX_MESSAGE = 2000

/** `text` cut to `max` characters, saying how many were left out. */
function clip(text, max = MAX_MESSAGE) {
  text = String(text)
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`
}

function describe(value) {
  if (value === null) return 'null'
  if (value === undefined) return 'undefined'
  if (typeof value === 'function') return `function ${clip(value.name || '<anonymous>', 64)}`
  if (typeof value === 'symbol') return 'a symbol'
  if (typeof value === 'object') {
    let ctor
    try {
      ctor = value.constructor && value.constructor.name
    } catch {
      ctor = undefined // a Proxy or a getter that throws
    }
    return typeof ctor === 'string' && ctor ? `an instance of ${clip(ctor, 64)}` : 'an object'
  }
  let shown = String(value)
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`
  if (typeof value === 'string') shown = `'${shown}'`
  return `type ${typeof value} (${shown})`
}

function argType(name, expected, value) {
  return new WasmError(`The "${name}" argument must be ${expected}. Received ${describe(value)}`, 'ERR_INVALID_ARG_TYPE')
}

function argValue(name, why) {
  return new WasmError(`The "${name}" option is invalid: ${why}`, 'ERR_INVALID_ARG_VALUE')
}

/** A native failure ({ code, message, trapKind?, backtrace? }) as a WasmError. */
function failureToError(failure, outcome) {
  const details = {}
  if (failure.trapKind !== undefined && failure.trapKind !== null) {
    details.trap = { kind: failure.trapKind, backtrace: failure.backtrace || [] }
  }
  if (outcome) {
    details.metrics = outcome.metrics
    details.logs = outcome.logs
    if (failure.code === 'ERR_WASM_GUEST_ERROR') details.payload = outcome.value === null ? undefined : outcome.value
  }
  return new WasmError(failure.message, failure.code, details)
}

module.exports = { WasmError, clip, describe, argType, argValue, failureToError }
