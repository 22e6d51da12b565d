// What the extension does, without VS Code: run a probe with the addon and describe the result.
// Kept apart from extension.ts so that it can be tested in plain Node.
import { existsSync, readdirSync } from 'node:fs'
import { basename, join } from 'node:path'
import { WasmRuntime, type LogRecord, type ProbeResult, type WasmModule } from 'wasm-probe-runtime'

/** The part of a VS Code CancellationToken the runner needs. */
export interface CancellationLike {
  readonly isCancellationRequested: boolean
  onCancellationRequested(listener: () => void): { dispose(): void }
}

/** A token that is never cancelled (for callers outside VS Code with nothing to cancel). */
export const neverCancelled: CancellationLike = {
  isCancellationRequested: false,
  onCancellationRequested: () => ({ dispose() {} }),
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
  /** A .wasm or .wat file the user picked: always compiled from source, never precompiled. */
  file: string
  input: unknown
  token: CancellationLike
  onLog: (line: string) => void
}

export interface BundledRunRequest extends Omit<RunRequest, 'file'> {
  /** The name of one of the extension's own guests (see `bundledGuests()`), e.g. 'word-count'. */
  guest: string
}

export interface InvokeRequest {
  /** One of the extension's own guests with a typed interface, e.g. 'text-stats'. */
  guest: string
  /** The function, as `module.functions` names it. */
  name: string
  args: unknown[]
  token: CancellationLike
}

export interface InvokeSummary {
  ok: boolean
  value?: unknown
  /** One line for a notification when it failed. */
  headline?: string
  code?: string
}

/** What the text-stats guest answers (example:text/stats@0.1.0#summarize). */
export interface TextSummary {
  words: number
  lines: number
  longestWord?: string
}

export const SUMMARIZE = 'example:text/stats@0.1.0#summarize'

export interface RunnerOptions {
  /** Where the extension's own guests are: `<name>.wasm`, each with the `<name>.cwasm` the
   *  packaging script precompiled for the VSIX's target. Default: `guests/` next to this file. */
  guestsDir?: string
  /** Where the runtime keeps compiled code between sessions (`cacheDir`); none when absent. */
  cacheDir?: string
  /** The runner's own messages (e.g. why a precompiled artifact was not used): the output channel. */
  log?: (line: string) => void
}

/** A loaded guest and the file its code came from. */
export interface LoadedGuest {
  module: WasmModule
  /** The `.cwasm` when the precompiled artifact was used, else the `.wasm` compiled at load. */
  from: string
}

export interface RunSummary {
  ok: boolean
  /** One line for a notification. */
  headline: string
  result?: ProbeResult
  code?: string
  /** The file the guest's code came from (for a bundled guest: its .cwasm, or its .wasm after a fallback). */
  loadedFrom?: string
}

export function formatLog(record: LogRecord): string {
  return `[${new Date(record.timestamp).toISOString()}] ${record.source}/${record.level}: ${record.message}`
}

export class ProbeRunner {
  private readonly runtime: WasmRuntime
  private readonly guestsDir: string
  private readonly log: (line: string) => void
  /** Bundled guests load once per runner: their files do not change while the extension runs. */
  private readonly bundled = new Map<string, Promise<LoadedGuest>>()

  constructor(options: RunnerOptions = {}) {
    this.runtime = new WasmRuntime({ limits: { timeoutMs: 10_000, memoryBytes: 64 << 20 }, cacheDir: options.cacheDir })
    this.guestsDir = options.guestsDir ?? join(__dirname, 'guests')
    this.log = options.log ?? (() => {})
  }

  /** The names of the extension's own guests, sorted. */
  bundledGuests(): string[] {
    if (!existsSync(this.guestsDir)) return []
    return readdirSync(this.guestsDir)
      .filter((f) => f.endsWith('.wasm'))
      .map((f) => f.slice(0, -'.wasm'.length))
      .sort()
  }

  /**
   * Loads one of the extension's own guests: its precompiled artifact when that loads (no compile
   * at all), else its .wasm, compiled now. The artifact is refused — and the .wasm used — when it
   * is missing, damaged, or was made for another target or engine build (a VSIX installed on the
   * wrong platform, or an addon upgraded without repackaging); the reason goes to the log.
   * Only the extension's own artifacts are loaded this way: they are native code, so a `.cwasm`
   * found next to a file the user picked is never loaded.
   */
  loadBundled(guest: string): Promise<LoadedGuest> {
    let loading = this.bundled.get(guest)
    if (!loading) {
      loading = this.loadBundledNow(guest)
      // A failed load is not remembered: the next run tries again.
      loading.catch(() => this.bundled.delete(guest))
      this.bundled.set(guest, loading)
    }
    return loading
  }

  private async loadBundledNow(guest: string): Promise<LoadedGuest> {
    if (!this.bundledGuests().includes(guest)) {
      throw Object.assign(new Error(`no bundled guest ${JSON.stringify(guest)} in ${this.guestsDir}`), { code: 'ERR_INVALID_ARG_VALUE' })
    }
    const wasm = join(this.guestsDir, `${guest}.wasm`)
    const cwasm = join(this.guestsDir, `${guest}.cwasm`)
    const name = basename(wasm)
    if (existsSync(cwasm)) {
      try {
        return { module: await this.runtime.loadPrecompiled(cwasm, { name }), from: cwasm }
      } catch (e) {
        const err = e as { code?: string; message?: string }
        this.log(`precompiled ${cwasm} not used (${err.code ?? 'error'}: ${err.message ?? String(e)}); compiling ${wasm} instead`)
      }
    } else {
      this.log(`no precompiled ${cwasm}; compiling ${wasm}`)
    }
    return { module: await this.runtime.loadModule(wasm, { name }), from: wasm }
  }

  /** Runs a file the user picked (compiled from source). */
  async run(request: RunRequest): Promise<RunSummary> {
    return this.execute(request, async () => ({ module: await this.runtime.loadModule(request.file), from: request.file }))
  }

  /** Runs one of the extension's own guests, from its precompiled artifact when it can. */
  async runBundled(request: BundledRunRequest): Promise<RunSummary> {
    return this.execute(request, () => this.loadBundled(request.guest))
  }

  private async execute(request: Omit<RunRequest, 'file'>, load: () => Promise<LoadedGuest>): Promise<RunSummary> {
    const cancel = toAbortSignal(request.token)
    let loadedFrom: string | undefined
    try {
      const { module, from } = await load()
      loadedFrom = from
      const result = await this.runtime.executeProbe(module, request.input, {
        signal: cancel.signal,
        onLog: (record) => request.onLog(formatLog(record)),
        label: module.name,
      })
      const latency = `${result.latencyMs.toFixed(1)} ms`
      return result.success
        ? { ok: true, headline: `${module.name}: ${JSON.stringify(result.output)} (${latency})`, result, loadedFrom }
        : { ok: false, headline: `${module.name} reported failure: ${result.error} (${latency})`, result, loadedFrom }
    } catch (e) {
      const err = e as { code?: string; message?: string }
      return { ok: false, headline: `${err.code ?? 'error'}: ${err.message ?? String(e)}`, code: err.code, loadedFrom }
    } finally {
      cancel.dispose()
    }
  }

  /** Calls a typed function of one of the extension's own guests with JavaScript values. */
  async invokeBundled(request: InvokeRequest): Promise<InvokeSummary> {
    const cancel = toAbortSignal(request.token)
    try {
      const { module } = await this.loadBundled(request.guest)
      const value = await this.runtime.invoke(module, request.name, request.args, { signal: cancel.signal, label: module.name })
      return { ok: true, value }
    } catch (e) {
      const err = e as { code?: string; message?: string }
      return { ok: false, headline: `${err.code ?? 'error'}: ${err.message ?? String(e)}`, code: err.code }
    } finally {
      cancel.dispose()
    }
  }

  /** Words, lines and the longest word of `text`, by the typed text-stats guest. */
  async summarize(text: string, token: CancellationLike): Promise<InvokeSummary & { value?: TextSummary }> {
    return (await this.invokeBundled({ guest: 'text-stats', name: SUMMARIZE, args: [text], token })) as InvokeSummary & { value?: TextSummary }
  }

  close(): Promise<void> {
    return this.runtime.close()
  }
}
