// Prometheus metrics (prom-client), one registry per server so that several servers in one
// process keep apart. Runtime figures are read from runtime.stats() when scraped.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

// Executions of small guests take tens of microseconds; a timeout ends one at 30 s by default.
const SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

export function createMetrics(runtime, instances) {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const stat = (name) => {
    try {
      return runtime.stats()[name]
    } catch {
      return 0 // the runtime is closed: the server is exiting
    }
  }
  const executions = new Counter({
    name: 'wasm_probe_executions_total',
    help: 'Executions, invocations and instance calls by module, outcome code (ok, failed: the guest said so, or the error code) and tenant',
    labelNames: ['module', 'code', 'tenant'],
    registers: [registry],
  })
  const seconds = new Histogram({
    name: 'wasm_probe_execution_seconds',
    help: 'Wall time of executions, invocations and instance calls, as the server saw it',
    labelNames: ['module', 'tenant'],
    buckets: SECONDS,
    registers: [registry],
  })
  new Gauge({
    name: 'wasm_probe_active',
    help: 'Running now: executions, instance calls, instances starting',
    registers: [registry],
    collect() {
      this.set(stat('active'))
    },
  })
  new Gauge({
    name: 'wasm_probe_queued',
    help: 'Accepted by the runtime, waiting to start',
    registers: [registry],
    collect() {
      this.set(stat('queued'))
    },
  })
  new Gauge({
    name: 'wasm_probe_instances',
    help: 'Live long-lived instances',
    registers: [registry],
    collect() {
      this.set(instances.size)
    },
  })
  return {
    registry,
    /** One finished execution: `code` is 'ok', 'failed' or a runtime error code. */
    record(module, tenant, code, elapsedSeconds) {
      executions.inc({ module, code, tenant })
      seconds.observe({ module, tenant }, elapsedSeconds)
    },
  }
}
