'use strict'
// Executions in flight and their live listeners. The native side delivers every execution event
// (log record, guest event, state change, outcome) to `complete` through one threadsafe function
// per runtime, in order; the callback holds no runtime, so an unreferenced WasmRuntime can still
// be garbage-collected.

const { WasmError, failureToError } = require('./errors')
const { scopes } = require('./imports')
const { thrownMessage } = require('./checks')
const { expand } = require('./outcome')

// Executions and calls in flight, by id, across every runtime.
const pending = new Map()
let nextId = 1

// State-change listeners of long-lived instances, by instance id.
const stateListeners = new Map()

function newId() {
  return nextId++
}

// The cancels waiting on each AbortSignal: one 'abort' listener per signal however many calls
// share it (Node warns of a leak past ten listeners on one signal).
const watched = new WeakMap()

function onSignalAbort() {
  const cancels = watched.get(this)
  watched.delete(this)
  if (cancels) for (const cancel of cancels) safely(cancel)
}

/** Calls `cancel` once `signal` aborts; the returned function stops watching. */
function watchSignal(signal, cancel) {
  let cancels = watched.get(signal)
  if (cancels === undefined) {
    cancels = new Set()
    watched.set(signal, cancels)
    signal.addEventListener('abort', onSignalAbort, { once: true })
  }
  // A function of its own, so that one cancel given twice is still two entries.
  const entry = () => cancel()
  cancels.add(entry)
  return () => {
    cancels.delete(entry)
    if (cancels.size === 0 && watched.get(signal) === cancels) {
      watched.delete(signal)
      signal.removeEventListener('abort', onSignalAbort)
    }
  }
}

/** Calls a user listener; a throw must not disturb the execution or the other listeners. */
function safely(listener, value) {
  if (!listener) return
  try {
    listener(value)
  } catch {
    // Ignored: see above.
  }
}

/** A log record, live while the guest runs: to the execution's onLog, then the runtime's sink. */
function deliverLog(record, { onLog, sink, label }) {
  safely(onLog, record)
  if (sink) safely(sink, label === undefined ? { ...record } : { ...record, label })
}

// When many calls finish together their deliveries come in a burst, and Node runs up to 1000
// threadsafe-function callbacks in one turn of the event loop; each resolution runs its caller's
// continuation at once (often starting the next call, whose delivery joins the burst), so one
// burst could hold timers and I/O for tens of milliseconds. After BURST_MS of deliveries in one
// turn the rest wait in `backlog`, in order, and are handled from setImmediate, at most BURST_MS
// per turn. No scheduler in Node bounds this for us, hence the few lines here.
const BURST_MS = 1
const backlog = []
let backlogHead = 0
// When this turn's deliveries began (-1 before the first), and whether endTurn is scheduled.
let burstStart = -1
let turnEnding = false

/** The threadsafe function's callback: one delivery, now or, late in a burst, after timers. */
function complete(id, outcome, record, change, event) {
  if (!turnEnding) {
    turnEnding = true
    setImmediate(endTurn)
  }
  if (backlogHead === backlog.length) {
    const now = performance.now()
    if (burstStart < 0) burstStart = now
    if (now - burstStart <= BURST_MS) return handle(id, outcome, record, change, event)
  }
  backlog.push([id, outcome, record, change, event])
}

/** After a turn's deliveries: handles the backlog for at most BURST_MS, the rest next turn. */
function endTurn() {
  turnEnding = false
  burstStart = -1
  if (backlogHead === backlog.length) return
  const started = performance.now()
  // One delivery per microtask, so that each caller's continuation runs (and is timed) before
  // the next delivery, as it does from the threadsafe function.
  const step = () => {
    if (backlogHead === backlog.length) return
    if (performance.now() - started > BURST_MS) {
      if (!turnEnding) {
        turnEnding = true
        setImmediate(endTurn)
      }
      return
    }
    const [id, outcome, record, change, event] = backlog[backlogHead]
    backlog[backlogHead++] = undefined
    if (backlogHead === backlog.length) {
      backlog.length = 0
      backlogHead = 0
    }
    handle(id, outcome, record, change, event)
    queueMicrotask(step)
  }
  step()
}

function handle(id, outcome, record, change, event) {
  try {
    if (change !== null && change !== undefined) {
      const listener = stateListeners.get(id)
      if (listener !== undefined) listener(change)
      return
    }
    const entry = pending.get(id)
    if (entry === undefined) return
    if (event !== null && event !== undefined) {
      // The data was checked to be JSON natively.
      safely(entry.onEvent, { name: event.name, data: JSON.parse(event.data), timestamp: event.timestamp })
      return
    }
    if (outcome === null || outcome === undefined) {
      deliverLog(record, entry)
      return
    }
    pending.delete(id)
    const owner = entry.owner
    owner.inFlight -= 1
    if (owner.inFlight === 0) owner.native.setKeepAlive(false)
    entry.resolve(outcome)
  } catch {
    // Must never throw: this runs as a threadsafe-function callback.
  }
}

/**
 * Starts one native execution or call and settles with its outcome: binds its imports, bridges
 * the AbortSignal, and turns a failure into a WasmError carrying the metrics and logs collected
 * so far. `start(id, cancel, liveLogs, liveEvents, here)` starts it natively (on this thread
 * only with `here`) and returns its outcome when it finished at once (on this thread); otherwise the outcome and the live events come
 * through `complete`, and the execution is registered for them — after `start`, which is safe
 * as they are only delivered on a later turn — and keeps the process alive while it runs.
 */
async function runNative(state, opts, sink, start) {
  let cancel
  let unwatch
  if (opts.signal) {
    if (opts.signal.aborted) {
      throw new WasmError('the execution was cancelled by its AbortSignal before it started', 'ERR_WASM_CANCELLED')
    }
    cancel = new state.CancelHandle()
    unwatch = watchSignal(opts.signal, () => cancel.cancel())
  }
  const id = newId()
  if (opts.imports) scopes.set(id, opts.imports)
  let outcome
  try {
    // While an outcome from this thread waits to be settled, calls are arriving together: they
    // start on the pool, whose threads then run them beside this one.
    outcome = expand(start(id, cancel, Boolean(opts.onLog || sink), Boolean(opts.onEvent), state.settling === 0), state.figures)
    if (outcome !== undefined && outcome !== null) {
      // Finished on this thread: settled from the event loop's next turn, as an outcome from the
      // pool is, so that a loop awaiting one execution after another still lets timers and I/O
      // run between them (promise jobs alone would starve them).
      const finished = outcome
      state.settling++
      outcome = await new Promise((resolve) =>
        setImmediate(() => {
          state.settling--
          resolve(finished)
        }),
      )
    } else {
      outcome = await new Promise((resolve) => {
        pending.set(id, { resolve, owner: state, onLog: opts.onLog, onEvent: opts.onEvent, sink, label: opts.label })
        if (state.inFlight++ === 0) state.native.setKeepAlive(true)
      })
    }
  } catch (e) {
    if (pending.delete(id) && --state.inFlight === 0) state.native.setKeepAlive(false)
    if (e instanceof WasmError) throw e
    // Only reading the arguments can throw here: a value the native side refused to copy
    // (napi's InvalidArg: too large, or cyclic, and it says so), or a getter in it that threw.
    const why = e && e.code === 'InvalidArg' ? e.message : `args could not be read: ${thrownMessage(e)}`
    throw new WasmError(why, 'ERR_INVALID_ARG_VALUE', { cause: e })
  } finally {
    if (unwatch) unwatch()
    if (opts.imports) scopes.delete(id)
  }
  if (outcome.failure) throw failureToError(outcome.failure, outcome)
  return outcome
}

/** A probe call's result object from its outcome. */
function probeResult(outcome) {
  const result = {
    success: outcome.success,
    output: outcome.output === undefined || outcome.output === null ? undefined : JSON.parse(outcome.output),
    latencyMs: outcome.latencyMs,
    metrics: outcome.metrics,
    logs: outcome.logs,
  }
  if (!outcome.success) result.error = outcome.error
  return result
}

/** A typed call's value from its outcome (`null` crosses as undefined only where it means none). */
function invokeResult(outcome) {
  return outcome.value === null ? undefined : outcome.value
}

module.exports = { complete, runNative, deliverLog, probeResult, invokeResult, stateListeners, newId, watchSignal }
