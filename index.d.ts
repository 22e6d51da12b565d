// Public typings of wasm-probe-runtime. The native part's generated typings are binding.d.ts.
import type { WasmModule } from './binding'

export { WasmModule }

export interface Limits {
  /** Linear memory of the instance, all memories together. Default 16 MiB; 64 KiB .. 4 GiB. */
  memoryBytes?: number
  /** Wasm stack. Default 1 MiB; 64 KiB .. 8 MiB. */
  stackBytes?: number
  /** Elements per table. Default 10 000; up to 100 000. */
  tableElements?: number
  /** Instruction budget; absent = no fuel limit. */
  fuel?: number
  /** Wall clock from the call. Default 30 000. */
  timeoutMs?: number
}

export interface Capabilities {
  http?: { allow: string[]; maxConcurrent?: number; maxResponseBytes?: number; timeoutMs?: number }
  fs?: { preopens: { hostPath: string; guestPath: string; readonly?: boolean }[] }
  env?: Record<string, string>
  args?: string[]
}

export interface LogRecord {
  level: 'trace' | 'debug' | 'info' | 'warn' | 'error'
  message: string
  /** Milliseconds since the Unix epoch. */
  timestamp: number
  source: 'guest' | 'stdout' | 'stderr'
}

export interface HttpRequest {
  method: string
  url: string
  headers: [string, string][]
  body?: Uint8Array
}

export interface HttpResponse {
  status: number
  headers: [string, string][] | Record<string, string>
  body: Uint8Array | string
}

export interface RuntimeOptions {
  /** Tokio worker threads of this runtime. Default: the machine's cores, 2 .. 4. */
  workerThreads?: number
  /** Persistent compiled-code cache directory. */
  cacheDir?: string
  /** Defaults for every execution. */
  limits?: Limits
  /** The Node side of guest HTTP. Default: globalThis.fetch. */
  http?: (req: HttpRequest) => Promise<HttpResponse>
  /** Sink for every guest log record. */
  log?: (record: LogRecord & { label?: string }) => void
}

export interface ExecuteOptions {
  /** Default 'execute'. */
  export?: string
  limits?: Limits
  /** Nothing is granted by default. */
  capabilities?: Capabilities
  signal?: AbortSignal
  onLog?: (record: LogRecord) => void
  /** Who this is (extension/probe id), carried into log records. */
  label?: string
}

export interface LoadOptions {
  /** Default: the file name, else 'module'. */
  name?: string
}

export interface ProbeMetrics {
  instantiateUs: number
  runUs: number
  fuelConsumed?: number
  memoryPeakBytes: number
  hostCalls: number
}

export interface ProbeResult {
  /** false when the guest reported failure (error_write / Err(...) / non-zero). */
  success: boolean
  /** The guest's output JSON, parsed; undefined when it wrote none. */
  output?: unknown
  /** The guest's own failure message when success is false. */
  error?: string
  /** Wall time of this execution, > 0. */
  latencyMs: number
  metrics: ProbeMetrics
  /** What the guest logged during this execution (bounded). */
  logs: LogRecord[]
}

export interface RuntimeStats {
  modules: number
  executions: number
  active: number
  queued: number
  cacheHits: number
  cacheMisses: number
  workerThreads: number
}

export type WasmErrorCode =
  | 'ERR_WASM_INVALID_MODULE'
  | 'ERR_WASM_LINK'
  | 'ERR_WASM_CAPABILITY_DENIED'
  | 'ERR_WASM_NO_EXPORT'
  | 'ERR_WASM_TRAP'
  | 'ERR_WASM_STACK_OVERFLOW'
  | 'ERR_WASM_MEMORY_LIMIT'
  | 'ERR_WASM_FUEL_EXHAUSTED'
  | 'ERR_WASM_TIMEOUT'
  | 'ERR_WASM_CANCELLED'
  | 'ERR_WASM_BAD_OUTPUT'
  | 'ERR_WASM_HOST'
  | 'ERR_WASM_INSTANCE_DISABLED'
  | 'ERR_WASM_CLOSED'
  | 'ERR_INVALID_ARG_VALUE'
  | 'ERR_INVALID_ARG_TYPE'

export declare class WasmError extends Error {
  constructor(message: string, code?: WasmErrorCode | string, details?: { trap?: { kind: string; backtrace: string[] }; metrics?: ProbeMetrics; logs?: LogRecord[]; cause?: unknown })
  readonly code: WasmErrorCode | string
  /** For traps: a stable kind (e.g. 'integer-division-by-zero') and the wasm backtrace, innermost first. */
  readonly trap?: { kind: string; backtrace: string[] }
  /** For executions: what was measured until it stopped. */
  readonly metrics?: ProbeMetrics
  readonly logs?: LogRecord[]
}

export declare class WasmRuntime {
  constructor(options?: RuntimeOptions)
  /** Bytes of a binary or of WAT text, WAT text as a string, or a path to a .wasm / .wat file. */
  loadModule(source: Uint8Array | ArrayBuffer | string, options?: LoadOptions): Promise<WasmModule>
  /** One fresh, isolated instance per call, on the worker pool. */
  executeProbe(module: WasmModule, input?: unknown, options?: ExecuteOptions): Promise<ProbeResult>
  stats(): RuntimeStats
  /** Settles every in-flight execution (ERR_WASM_CLOSED), then releases all threads. */
  close(): Promise<void>
}
