// Public typings of wasm-probe-runtime. The native part's generated typings are binding.d.ts.
import type { WasmModule, NativeFunctionInfo } from './binding'

export { WasmModule }

/** An export `invoke` can call: `'fn'`, or `'ns:pkg/iface@1.0.0#fn'` inside an exported
 *  interface, with WIT types as text ('u32', 'list<string>', 'point', ...). */
export type FunctionInfo = NativeFunctionInfo

declare module './binding' {
  interface WasmModule {
    /** Resolves once optimized code is in place (at once if it is). Rejects (ERR_WASM_HOST) when
     *  it never will be: the runtime uses compiler 'baseline', or building optimized code failed. */
    whenOptimized(): Promise<void>
  }
}

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
  /** WASI descriptors open at once (preopened directories count). Default 100; 0 .. 100 000.
   *  An open beyond it fails in the guest with "too many open files" (p1 `EMFILE`; p2
   *  `insufficient-memory`, the closest code WASI p2 has); the guest carries on. */
  openFiles?: number
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
  /** The `label` of the execution or instance that makes the request, when it has one. */
  label?: string
}

export interface HttpResponse {
  status: number
  headers: [string, string][] | Record<string, string>
  body: Uint8Array | string
}

/** What the runtime does for guest HTTP when `RuntimeOptions.http` is not given: Node's fetch,
 *  redirects left to the runtime (each hop is checked again), the body read up to
 *  `maxResponseBytes` (`{ error: 'too-large' }` beyond it). For a handler that wraps it. */
export declare function defaultHttp(request: HttpRequest, options: { signal: AbortSignal; maxResponseBytes: number }): Promise<HttpResponse | { error: 'too-large' }>

export interface RuntimeOptions {
  /** Tokio worker threads of this runtime. Default: the machine's cores, 2 .. 4. */
  workerThreads?: number
  /** Persistent compiled-code cache directory. */
  cacheDir?: string
  /**
   * Start each execution on the calling thread for one short slice of guest work (about 100 µs),
   * so that one that finishes in it — most probes — settles without waking any thread; one that
   * needs longer, or waits on JavaScript, continues on the worker pool. A long-lived instance's
   * call does the same when the instance is idle. Default true; false starts every execution and
   * call on the pool.
   */
  inline?: boolean
  /** Defaults for every execution. */
  limits?: Limits
  /** The Node side of guest HTTP. Default: globalThis.fetch. */
  http?: (req: HttpRequest) => Promise<HttpResponse>
  /** Sink for every guest log record. */
  log?: (record: LogRecord & { label?: string }) => void
  /** 'auto' (default): baseline code (Winch) first where the platform has it, optimized code
   *  (Cranelift) built in the background and used by every instance created after it is ready.
   *  Guests under 1 MiB compile optimized at once in 'auto'. 'optimizing': Cranelift only.
   *  'baseline': Winch only (Cranelift where Winch cannot compile the guest; see `tier`). */
  compiler?: 'auto' | 'baseline' | 'optimizing'
  /** Live long-lived instances. Default 1000; beyond it `instantiate` rejects ERR_WASM_BUSY.
   *  Instances never take the capacity executions run on: any number of them up to this
   *  leaves `executeProbe` served. */
  maxInstances?: number
  /** Executions (and instance calls) accepted but not started yet. Default 10 000; beyond it
   *  the call rejects ERR_WASM_BUSY at once and nothing runs. */
  maxQueued?: number
  /** Linear memory of all this runtime's live guests together. Default: unlimited. Growth past
   *  it is refused like a per-instance limit (`memory.grow` returns -1; a guest that then fails
   *  rejects ERR_WASM_MEMORY_LIMIT naming maxTotalMemoryBytes). */
  maxTotalMemoryBytes?: number
}

/** An event a guest emitted (`probe:runtime/events` emit, `probe.event_emit`), delivered live. */
export interface GuestEvent {
  name: string
  /** The guest's JSON data, parsed. */
  data: unknown
  /** Milliseconds since the Unix epoch. */
  timestamp: number
}

/** JavaScript implementations of a guest's own imports: interface name (WIT, e.g.
 *  'my:ext/editor@0.1.0'; for a core module, its import module; '$root' for a function a world
 *  imports directly) → function name as in WIT → function. A function may return a Promise; the
 *  guest waits for it without blocking a thread. For an import returning `result<T, E>`, return
 *  T and throw for `err` (with a `payload` property holding E, or any Error when E is string). */
export type JsImports = Record<string, Record<string, (...args: any[]) => unknown>>

/** Options of a synchronous call (`executeProbeSync`). */
export interface SyncOptions {
  /** The hard deadline, in ms: more than 0, at most 1000. Default 50. */
  timeoutMs?: number
  /** Limits but the deadline (`timeoutMs` here replaces `limits.timeoutMs`). */
  limits?: Limits
  /** Added to the records the runtime's `log` sink gets. */
  label?: string
  /** The export to call. Default `execute`. */
  export?: string
}

export interface ExecuteOptions {
  /** Default 'execute'. Not used by `invoke`. */
  export?: string
  limits?: Limits
  /** Nothing is granted by default. */
  capabilities?: Capabilities
  signal?: AbortSignal
  onLog?: (record: LogRecord) => void
  /** Events the guest emits while it runs, live, in order with its logs. */
  onEvent?: (event: GuestEvent) => void
  /** Who this is (extension/probe id), carried into log records. */
  label?: string
  /** Replaces, for this execution, functions given at load (same names; it cannot add new ones). */
  imports?: JsImports
}

/** Per-operation call timeouts (ms) of a long-lived instance; any other names may be added. */
export interface OperationTimeouts {
  /** Instantiation. Default 10 000. */
  activation?: number
  /** Default 5 000. */
  deactivation?: number
  /** Default 30 000. */
  command?: number
  /** Default 2 000. */
  completion?: number
  /** Default 500. */
  hover?: number
  [operation: string]: number | undefined
}

/** When a crashing instance is rebuilt, and when it is given up on. */
export interface RestartPolicy {
  /** Crashes within `windowMs` that disable the instance. Default 5. */
  maxFailures?: number
  /** Default 60 000. */
  windowMs?: number
  /** Wait before the first rebuild after a crash; doubles per consecutive crash. Default 100. */
  backoffMs?: number
  /** Default 5 000. */
  maxBackoffMs?: number
  /** Timeouts within `windowMs` that disable the instance (1: warning, 2: terminated). Default 3. */
  maxTimeouts?: number
}

export type InstanceState = 'ready' | 'busy' | 'restarting' | 'disabled' | 'disposed'

/** A state transition of an instance (ready ⇄ busy around each call is not reported). */
export interface StateChange {
  state: InstanceState
  previous: InstanceState
  reason: string
  code?: WasmErrorCode
}

export interface InstanceOptions extends Omit<ExecuteOptions, 'export'> {
  timeouts?: OperationTimeouts
  restart?: RestartPolicy
  onStateChange?: (change: StateChange) => void
}

export interface CallOptions {
  /** Overrides the operation's (or the instance's limits.timeoutMs) for this call. */
  timeoutMs?: number
  /** Takes the call's timeout from `InstanceOptions.timeouts`. */
  operation?: string
  signal?: AbortSignal
  onLog?: (record: LogRecord) => void
  onEvent?: (event: GuestEvent) => void
}

export declare class WasmInstance {
  readonly state: InstanceState
  /** Per-operation timeouts in force. */
  readonly timeouts: Record<string, number>
  /** Calls run one at a time, in order; the store (and the guest's state) is kept between them. */
  call(exportName: string, input?: unknown, options?: CallOptions): Promise<ProbeResult>
  /** The same, with this thread waiting for the result at most `options.timeoutMs` (default 50,
   *  at most 1000; `limits` and `export` do not apply). Throws where `call` rejects; with
   *  another call in flight it is ERR_WASM_BUSY at once; a host call that would wait for
   *  JavaScript fails it with ERR_WASM_CAPABILITY_DENIED. */
  callSync(exportName: string, input?: unknown, options?: SyncOptions): ProbeResult
  /** Calls function `name` (see `WasmModule.functions`) with JavaScript values; resolves with its
   *  JavaScript value. Calls, limits and the crash policy are those of `call`. */
  invoke(name: string, args?: unknown[], options?: CallOptions): Promise<unknown>
  /** Lifts a disable; the next call starts the instance fresh. */
  enable(): void
  /** Stops the running call, settles queued ones with ERR_WASM_CLOSED, frees the instance. */
  dispose(): Promise<void>
}

export interface LoadOptions {
  /** Default: the file name, else 'module'. */
  name?: string
  /** The guest's own imports, in JavaScript. The link is checked here: an import that neither the
   *  runtime nor `imports` provides rejects the load with ERR_WASM_LINK naming it, and a function
   *  the guest does not import rejects ERR_INVALID_ARG_VALUE. */
  imports?: JsImports
}

/** Options of `loadScript`. */
export interface ScriptOptions {
  /** Names the script in errors and stack traces (`probe.js:12:7`). Default: `name`, else 'script.js'. */
  filename?: string
  /** Default: the file name. */
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
  /** Running now: executions, calls on instances, instances starting. */
  active: number
  /** Accepted, waiting to start: executions waiting for a store, calls behind another call. */
  queued: number
  cacheHits: number
  cacheMisses: number
  workerThreads: number
  /** Live long-lived instances. */
  instances: number
  /** Linear memory all live guests hold (running executions and live instances). */
  memoryBytes: number
  /** Executions and instance calls that finished within their first slice on the calling thread (see `inline`). */
  inlineExecutions: number
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
  | 'ERR_WASM_BUSY'
  | 'ERR_INVALID_ARG_VALUE'
  | 'ERR_INVALID_ARG_TYPE'
  | 'ERR_WASM_UNSUPPORTED_PLATFORM'
  | 'ERR_WASM_GUEST_ERROR'

export declare class WasmError extends Error {
  constructor(message: string, code?: WasmErrorCode | string, details?: { trap?: { kind: string; backtrace: string[] }; metrics?: ProbeMetrics; logs?: LogRecord[]; payload?: unknown; cause?: unknown })
  readonly code: WasmErrorCode | string
  /** For traps: a stable kind (e.g. 'integer-division-by-zero') and the wasm backtrace, innermost first. */
  readonly trap?: { kind: string; backtrace: string[] }
  /** For executions: what was measured until it stopped. */
  readonly metrics?: ProbeMetrics
  readonly logs?: LogRecord[]
  /** For ERR_WASM_GUEST_ERROR: the `err` value of the function's top-level result. */
  readonly payload?: unknown
}

/**
 * Whether the native binary for this platform loaded. When it did not, requiring the package
 * still works, and `new WasmRuntime()` throws a WasmError with ERR_WASM_UNSUPPORTED_PLATFORM
 * whose message says why.
 */
export declare const nativeBinding: {
  loaded: boolean
  platform: string
  arch: string
  libc?: 'glibc' | 'musl'
  /** Every candidate the loader tried, with why it failed. */
  tried?: string[]
  message?: string
  error?: unknown
}

export declare class WasmRuntime {
  constructor(options?: RuntimeOptions)
  /** Bytes of a binary or of WAT text, WAT text as a string, or a path to a .wasm / .wat file
   *  (a .js / .mjs path loads that file as a script, as `loadScript` does). */
  loadModule(source: Uint8Array | ArrayBuffer | string, options?: LoadOptions): Promise<WasmModule>
  /**
   * An ES module's source, run by the built-in JavaScript engine (QuickJS-ng compiled to
   * WebAssembly) in the same sandbox, limits and capabilities as any guest. Its `execute(input)`
   * (sync or async) runs per execution; `console` calls become log records. A syntax error, or a
   * throw while the module evaluates, rejects with ERR_WASM_INVALID_MODULE naming `file:line:column`.
   * `exports` lists the script's exported functions; only `execute` is callable so far.
   */
  loadScript(source: string, options?: ScriptOptions): Promise<WasmModule>
  /** The engine scripts run on. */
  static readonly scriptEngine: { readonly name: string; readonly version: string }
  /** One fresh, isolated instance per call: its first slice on this thread (see
   *  `RuntimeOptions.inline`), the rest on the worker pool. */
  executeProbe(module: WasmModule, input?: unknown, options?: ExecuteOptions): Promise<ProbeResult>
  /**
   * The same on this thread, to the end or `options.timeoutMs` (default 50 ms, at most 1000),
   * returning the result — for APIs that must answer synchronously. Throws a WasmError where
   * executeProbe rejects; a host call that would wait for JavaScript (HTTP, a JavaScript import)
   * fails it with ERR_WASM_CAPABILITY_DENIED; with every store in use it is ERR_WASM_BUSY at once.
   */
  executeProbeSync(module: WasmModule, input?: unknown, options?: SyncOptions): ProbeResult
  /** Calls function `name` (see `WasmModule.functions`: `'fn'`, or `'ns:pkg/iface@1.0.0#fn'`)
   *  of a fresh instance with JavaScript values (jco's mapping), checked against its WIT types
   *  before it runs; resolves with its JavaScript value. A top-level `result` that is `err`
   *  rejects ERR_WASM_GUEST_ERROR with the error in `payload`. */
  invoke(module: WasmModule, name: string, args?: unknown[], options?: ExecuteOptions): Promise<unknown>
  /** A long-lived instance (the extension model): state survives between calls. */
  instantiate(module: WasmModule, options?: InstanceOptions): Promise<WasmInstance>
  /** Optimized native code for `source`, for `target` (a Rust target triple; default this machine). */
  precompile(source: Uint8Array | ArrayBuffer | string, options?: { target?: string }): Promise<Uint8Array>
  /** Loads what `precompile` (or `wasm-probe compile`) produced; a path is mapped, not read. It is
   *  native code: load only artifacts you produced yourself. A damaged artifact, or one made by
   *  another engine build, configuration or target, rejects ERR_WASM_INVALID_MODULE saying so. */
  loadPrecompiled(source: Uint8Array | ArrayBuffer | string, options?: LoadOptions): Promise<WasmModule>
  stats(): RuntimeStats
  /** Settles every in-flight execution (ERR_WASM_CLOSED), then releases all threads. */
  close(): Promise<void>
}
