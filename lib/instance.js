'use strict'
// Long-lived instances: one store kept between calls; calls run one at a time, in order.

const { argType, argValue, clip, failureToError } = require('./errors')
const { NONE, checkArgs, checkObject, checkSignal, checkSyncOptions, checkType, toInputJson } = require('./checks')
const { runNative, deliverLog, probeResult, invokeResult, stateListeners } = require('./dispatch')
const { scopes } = require('./imports')
const { expand } = require('./outcome')

// Per-operation call timeouts of long-lived instances, in the spirit of an IDE's extension host.
const DEFAULT_OPERATION_TIMEOUTS = Object.freeze({
  activation: 10_000,
  deactivation: 5_000,
  command: 30_000,
  completion: 2_000,
  hover: 500,
})

const CALL_KEYS = ['timeoutMs', 'operation', 'signal', 'onLog', 'onEvent']

class WasmInstance {
  #native
  #id
  #state
  #sink
  #defaults

  constructor(native, id, state, sink, defaults) {
    this.#native = native
    this.#id = id
    this.#state = state
    this.#sink = sink
    this.#defaults = defaults
  }

  /** 'ready' | 'busy' | 'restarting' | 'disabled' | 'disposed' */
  get state() {
    return this.#native.state
  }

  /** Per-operation timeouts in force (ms). */
  get timeouts() {
    return { ...this.#defaults.timeouts }
  }

  #callOptions(options) {
    const o = checkObject('options', options, CALL_KEYS) ?? NONE
    checkType('options.timeoutMs', o.timeoutMs, 'number')
    checkType('options.operation', o.operation, 'string')
    checkType('options.onLog', o.onLog, 'function')
    checkType('options.onEvent', o.onEvent, 'function')
    checkSignal('options.signal', o.signal)
    let timeoutMs = o.timeoutMs
    if (timeoutMs === undefined && o.operation !== undefined) {
      timeoutMs = this.#defaults.timeouts[o.operation]
      if (timeoutMs === undefined) {
        throw argValue('options.operation', `unknown operation "${clip(o.operation, 64)}"; known: ${Object.keys(this.#defaults.timeouts).join(', ')}`)
      }
    }
    const opts = {
      signal: o.signal,
      onLog: o.onLog || this.#defaults.onLog,
      onEvent: o.onEvent || this.#defaults.onEvent,
      label: this.#defaults.label,
    }
    return { timeoutMs, opts }
  }

  /**
   * Calls `exportName` (a core export `() -> i32 | ()`, or a component export
   * `func(input: string) -> result<string, string>`) with `input` as JSON.
   * @param {string} exportName
   * @param {unknown} [input]
   * @param {import('../index').CallOptions} [options]
   */
  async call(exportName, input, options) {
    if (typeof exportName !== 'string') throw argType('exportName', 'of type string', exportName)
    const { timeoutMs, opts } = this.#callOptions(options)
    const inputJson = toInputJson(input)
    const outcome = await runNative(this.#state, opts, this.#sink, (id, cancel, live, liveEvents, here) =>
      this.#native.call(id, exportName, inputJson, timeoutMs, cancel, live, liveEvents, undefined, here, this.#state.figures),
    )
    return probeResult(outcome)
  }

  /**
   * Calls `exportName` as `call` does and waits for it on this thread, at most `options.timeoutMs`
   * (default 50, at most 1000), returning its result. Throws where `call` rejects; with another
   * call in flight it is ERR_WASM_BUSY at once; a host call that would wait for JavaScript fails
   * it with ERR_WASM_CAPABILITY_DENIED.
   * @param {string} exportName
   * @param {unknown} [input]
   * @param {import('../index').SyncOptions} [options]
   */
  callSync(exportName, input, options) {
    if (typeof exportName !== 'string') throw argType('exportName', 'of type string', exportName)
    const { native, label } = checkSyncOptions(options)
    if (native.export !== undefined) throw argValue('options.export', 'is not used by callSync: the export is its first argument')
    if (Object.keys(native.limits).length > 1) {
      throw argValue('options.limits', 'is not used by callSync: an instance’s limits are set when it is created')
    }
    const figures = this.#state.figures
    const outcome = expand(this.#native.callSync(exportName, toInputJson(input), native.limits.timeoutMs, figures), figures)
    if (this.#sink) for (const record of outcome.logs ?? []) deliverLog(record, { sink: this.#sink, label: label ?? this.#defaults.label })
    if (outcome.failure) throw failureToError(outcome.failure, outcome)
    return probeResult(outcome)
  }

  /**
   * Calls function `name` of the instance (see `module.functions`) with JavaScript values.
   * @param {string} name
   * @param {unknown[]} [args]
   * @param {import('../index').CallOptions} [options]
   */
  async invoke(name, args, options) {
    if (typeof name !== 'string') throw argType('name', 'of type string', name)
    const values = checkArgs(args)
    const { timeoutMs, opts } = this.#callOptions(options)
    const outcome = await runNative(this.#state, opts, this.#sink, (id, cancel, live, liveEvents, here) =>
      this.#native.call(id, name, '', timeoutMs, cancel, live, liveEvents, values, here, this.#state.figures),
    )
    return invokeResult(outcome)
  }

  /** Re-enables a disabled instance; the next call starts it fresh. */
  enable() {
    this.#native.enable()
  }

  /** Settles queued calls with ERR_WASM_CLOSED after the running one, and frees the instance. */
  async dispose() {
    await this.#native.dispose()
    stateListeners.delete(this.#id)
    scopes.delete(this.#id)
  }
}

module.exports = { WasmInstance, DEFAULT_OPERATION_TIMEOUTS }
