// What the extension does, without VS Code: run a probe with the addon and describe the result.
// Kept apart from extension.ts so that it can be tested in plain Node.
import { WasmRuntime, type LogRecord, type ProbeResult } from 'wasm-probe-runtime'

/** The part of a VS Code CancellationToken the runner needs. */
export interface CancellationLike {
  readonly isCancellationRequested: boolean
  onCancellationRequested(listener: () => void): { dispose(): void }
}

/** A CancellationToken as an AbortSignal: aborted now if already cancelled, else when it is. */
export function toAbortSignal(token: CancellationLike): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController()
  if (token.isCancellationRequested) {
    controller.abort()
    return { signal: controller.signal, dispose() {} }
  }
  const subscription = token.onCancellationRequested(() => controller.abort())
  return { signal: controller.signal, dispose: () => subscription.dispose() }
}

export interface RunRequest {
  file: string
  input: unknown
  token: CancellationLike
  onLog: (line: string) => void
}

export interface RunSummary {
  ok: boolean
  /** One line for a notification. */
  headline: string
  result?: ProbeResult
  code?: string
}

export function formatLog(record: LogRecord): string {
  return `[${new Date(record.timestamp).toISOString()}] ${record.source}/${record.level}: ${record.message}`
}

export class ProbeRunner {
  private readonly runtime: WasmRuntime

  constructor() {
    this.runtime = new WasmRuntime({ limits: { timeoutMs: 10_000, memoryBytes: 64 << 20 } })
  }

  async run(request: RunRequest): Promise<RunSummary> {
    const cancel = toAbortSignal(request.token)
    try {
      const module = await this.runtime.loadModule(request.file)
      const result = await this.runtime.executeProbe(module, request.input, {
        signal: cancel.signal,
        onLog: (record) => request.onLog(formatLog(record)),
        label: module.name,
      })
      const latency = `${result.latencyMs.toFixed(1)} ms`
      return result.success
        ? { ok: true, headline: `${module.name}: ${JSON.stringify(result.output)} (${latency})`, result }
        : { ok: false, headline: `${module.name} reported failure: ${result.error} (${latency})`, result }
    } catch (e) {
      const err = e as { code?: string; message?: string }
      return { ok: false, headline: `${err.code ?? 'error'}: ${err.message ?? String(e)}`, code: err.code }
    } finally {
      cancel.dispose()
    }
  }

  close(): Promise<void> {
    return this.runtime.close()
  }
}
