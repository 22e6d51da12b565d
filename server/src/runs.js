// Every execution the server starts, in one place: timed into the metrics, cancellable (a client
// that goes away, a drain that runs out of time), and awaited by the drain.
import { performance } from 'node:perf_hooks'

/** The outcome code of a settled run: 'ok', 'failed' (the guest said so) or the error's code. */
function outcomeOf(value) {
  return value !== null && typeof value === 'object' && value.success === false ? 'failed' : 'ok'
}

export class Runs {
  #running = new Set()
  #idle = []
  #metrics

  constructor(metrics) {
    this.#metrics = metrics
  }

  get size() {
    return this.#running.size
  }

  /**
   * Runs `start(signal)` for `module` on behalf of `tenant`. `watch(stop)` may arrange for
   * `stop()` to be called when the caller goes away (its connection closed) and returns what
   * undoes that; `onSettled(code)` sees the outcome. One AbortController per run: creating
   * them is a measurable part of a short request.
   */
  async run({ module, tenant, watch, onSettled }, start) {
    const controller = new AbortController()
    const unwatch = watch?.(() => controller.abort())
    this.#running.add(controller)
    const began = performance.now()
    let code = 'ERR_INTERNAL'
    try {
      const value = await start(controller.signal)
      code = outcomeOf(value)
      return value
    } catch (e) {
      code = typeof e?.code === 'string' ? e.code : 'ERR_INTERNAL'
      throw e
    } finally {
      unwatch?.()
      this.#running.delete(controller)
      this.#metrics.record(module, tenant, code, (performance.now() - began) / 1000)
      onSettled?.(code)
      if (this.#running.size === 0) for (const wake of this.#idle.splice(0)) wake()
    }
  }

  /** Resolves when nothing runs, or after `ms` with whatever still runs cancelled (then settled). */
  async settle(ms) {
    if (this.#running.size === 0) return true
    let timer
    const idle = new Promise((resolve) => this.#idle.push(resolve))
    const late = new Promise((resolve) => (timer = setTimeout(resolve, ms, 'late')))
    const first = await Promise.race([idle, late])
    clearTimeout(timer)
    if (first !== 'late') return true
    for (const controller of this.#running) controller.abort()
    await idle
    return false
  }
}
