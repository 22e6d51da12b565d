// Compiled by `tsc --noEmit` in `npm test`: the public typings describe the API as documented.
import { WasmError, WasmInstance, WasmModule, WasmRuntime } from '../index.js'
import type { ExecuteOptions, InstanceState, LogRecord, ProbeResult, RuntimeStats, StateChange } from '../index.js'

async function typed(): Promise<void> {
  const runtime = new WasmRuntime({
    workerThreads: 2,
    cacheDir: '/tmp/cache',
    limits: { memoryBytes: 1 << 24, stackBytes: 1 << 20, tableElements: 10_000, fuel: 1e6, timeoutMs: 1000, openFiles: 100 },
    maxInstances: 1000,
    maxQueued: 10_000,
    maxTotalMemoryBytes: 1 << 30,
    log: (record: LogRecord & { label?: string }) => void record.message,
  })
  const module: WasmModule = await runtime.loadModule(new Uint8Array([0, 97, 115, 109]), { name: 'x' })
  const kind: 'module' | 'component' | 'script' = module.kind
  const script: WasmModule = await runtime.loadScript('export function execute() {}', { filename: 'probe.js' })
  const engine: string = `${WasmRuntime.scriptEngine.name} ${WasmRuntime.scriptEngine.version} ${script.kind}`
  const facts: [string, number, string, string[], string[]] = [module.name, module.size, module.hash, module.exports, module.imports]
  const options: ExecuteOptions = {
    export: 'execute',
    capabilities: { http: { allow: ['https://example.com'] }, fs: { preopens: [{ hostPath: '/tmp', guestPath: '/data', readonly: true }] }, env: { A: 'b' }, args: ['x'] },
    signal: new AbortController().signal,
    onLog: (r) => void r.level,
    label: 'ext.probe',
  }
  const result: ProbeResult = await runtime.executeProbe(module, { any: 'json' }, options)
  const n: number = result.latencyMs + result.metrics.instantiateUs + result.metrics.runUs + result.metrics.memoryPeakBytes + result.metrics.hostCalls
  const fuel: number | undefined = result.metrics.fuelConsumed
  const ok: boolean = result.success
  const stats: RuntimeStats = runtime.stats()
  const capacity: number = stats.instances + stats.memoryBytes + stats.queued + stats.active
  const instance: WasmInstance = await runtime.instantiate(module, {
    timeouts: { hover: 300, custom: 50 },
    restart: { maxFailures: 3, backoffMs: 10 },
    onStateChange: (c: StateChange) => void [c.state, c.previous, c.reason, c.code],
    limits: { timeoutMs: 1000 },
  })
  const state: InstanceState = instance.state
  const called: ProbeResult = await instance.call('execute', { x: 1 }, { operation: 'hover', signal: new AbortController().signal })
  instance.enable()
  await instance.dispose()
  const error = new WasmError('boom', 'ERR_WASM_TRAP')
  const code: string = error.code
  await runtime.close()
  void [kind, facts, n, fuel, ok, stats, capacity, code, error.trap?.kind, error.metrics?.runUs, state, called]
}
void typed
