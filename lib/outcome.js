'use strict'
// A native outcome as JavaScript reads it. A success with output and no logs crosses from the
// calling thread as its output JSON text alone, its figures written into a Float64Array the
// caller passed (src/binding/convert.rs `cross`): building objects through napi one property at
// a time costs more than the guest's run. This turns it back into the outcome object.

/** The figures array of a runtime: its own ArrayBuffer, so that its memory never moves. */
function newFigures() {
  return new Float64Array(new ArrayBuffer(6 * Float64Array.BYTES_PER_ELEMENT))
}

/**
 * The outcome object of a native call's return value: itself unless it is a lean success,
 * whose figures (latencyMs, instantiateUs, runUs, fuelConsumed or NaN, memoryPeakBytes,
 * hostCalls) are read from `figures` at once, before another native call reuses them.
 */
function expand(raw, figures) {
  if (typeof raw !== 'string') return raw
  // The same properties, in the same order, as a NativeOutcome built by napi.
  const metrics = { instantiateUs: figures[1], runUs: figures[2], memoryPeakBytes: figures[4], hostCalls: figures[5] }
  if (!Number.isNaN(figures[3])) metrics.fuelConsumed = figures[3]
  return { success: true, output: raw, latencyMs: figures[0], metrics, logs: [] }
}

module.exports = { newFigures, expand }
