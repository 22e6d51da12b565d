// The VS Code side: commands that pick a probe, ask for input, run it, and show the result.
import { appendFileSync } from 'node:fs'
import { join } from 'node:path'
import * as vscode from 'vscode'
import { ProbeRunner, type CancellationLike, type RunSummary } from './probe-runner'

let runner: ProbeRunner | undefined

/** When WASM_PROBE_EXAMPLE_TRACE names a file, the extension appends its lifecycle to it, one JSON
 *  line per event: how a test that runs it inside VS Code sees that deactivate() finished. */
function trace(event: string): void {
  const file = process.env.WASM_PROBE_EXAMPLE_TRACE
  if (file) appendFileSync(file, `${JSON.stringify({ event, pid: process.pid, time: Date.now() })}\n`)
}

export function activate(context: vscode.ExtensionContext): void {
  const output = vscode.window.createOutputChannel('Wasm Probe')
  context.subscriptions.push(output)
  try {
    // The extension's own guests ship in dist/guests/, each precompiled for the VSIX's target.
    // Guests the user picks are compiled once: the compiled code is cached in the extension's own
    // storage, so the next session starts them at once.
    runner = new ProbeRunner({
      guestsDir: context.asAbsolutePath('dist/guests'),
      cacheDir: join(context.globalStorageUri.fsPath, 'compiled'),
      log: (line) => output.appendLine(line),
    })
  } catch (e) {
    // No native binary for this platform: say so instead of failing activation.
    void vscode.window.showErrorMessage(`Wasm Probe is unavailable here: ${(e as Error).message}`)
    return
  }
  trace('activated')

  /** The input given to the command, else the JSON the user types (undefined when they cancel). */
  async function inputFor(given: unknown): Promise<{ input: unknown } | undefined> {
    if (given !== undefined) return { input: given }
    const text = await vscode.window.showInputBox({ prompt: 'Input (JSON)', value: '{}' })
    if (text === undefined) return undefined
    try {
      return { input: JSON.parse(text) }
    } catch (e) {
      void vscode.window.showErrorMessage(`The input is not JSON: ${(e as Error).message}`)
      return undefined
    }
  }

  /** Runs `start` under a cancellable progress notification, shows and returns the result. */
  async function runWithProgress(start: (active: ProbeRunner, token: CancellationLike) => Promise<RunSummary>): Promise<RunSummary | undefined> {
    if (!runner) return undefined
    const active = runner
    const summary = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'Running probe…', cancellable: true },
      (_progress, token) => start(active, token),
    )
    output.appendLine(summary.headline)
    if (summary.ok) void vscode.window.showInformationMessage(summary.headline)
    else void vscode.window.showErrorMessage(summary.headline)
    return summary
  }

  const onLog = (line: string) => output.appendLine(line)
  // Each command also takes its choices as arguments — what another extension, a keybinding or
  // a test passes to `vscode.commands.executeCommand` — and returns what it showed.
  context.subscriptions.push(
    vscode.commands.registerCommand('wasmProbe.run', async (given?: string | vscode.Uri, givenInput?: unknown) => {
      let file = typeof given === 'string' ? given : given?.fsPath
      if (file === undefined) {
        const picked = await vscode.window.showOpenDialog({
          canSelectMany: false,
          filters: { WebAssembly: ['wasm', 'wat'] },
          openLabel: 'Run probe',
        })
        if (!picked || picked.length === 0) return undefined
        file = picked[0].fsPath
      }
      const chosen = await inputFor(givenInput)
      if (!chosen) return undefined
      const path = file
      return runWithProgress((active, token) => active.run({ file: path, input: chosen.input, token, onLog }))
    }),
    vscode.commands.registerCommand('wasmProbe.runBundled', async (given?: string, givenInput?: unknown) => {
      const guests = runner?.bundledGuests() ?? []
      if (guests.length === 0) {
        void vscode.window.showErrorMessage('This build of Wasm Probe has no bundled probes.')
        return undefined
      }
      const guest = given ?? (await vscode.window.showQuickPick(guests, { placeHolder: 'A probe that ships with the extension' }))
      if (guest === undefined) return undefined
      const chosen = await inputFor(givenInput)
      if (!chosen) return undefined
      return runWithProgress((active, token) => active.runBundled({ guest, input: chosen.input, token, onLog }))
    }),
    // A typed export: the document's text goes in as a string and a record comes back, no JSON.
    vscode.commands.registerCommand('wasmProbe.documentStats', async () => {
      const editor = vscode.window.activeTextEditor
      if (!runner || !editor) {
        void vscode.window.showErrorMessage('Open a document first.')
        return undefined
      }
      const active = runner
      const text = editor.document.getText()
      const summary = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Window, title: 'Counting…', cancellable: true },
        (_progress, token) => active.summarize(text, token),
      )
      if (!summary.ok || !summary.value) {
        void vscode.window.showErrorMessage(summary.headline ?? 'the text-stats probe failed')
        return summary
      }
      const { words, lines, longestWord } = summary.value
      const line = `${words} words, ${lines} lines${longestWord ? `, longest word: ${longestWord}` : ''}`
      output.appendLine(`${editor.document.fileName}: ${line}`)
      void vscode.window.showInformationMessage(line)
      return summary
    }),
    vscode.commands.registerCommand('wasmProbe.showLog', () => output.show(true)),
  )
}

export async function deactivate(): Promise<void> {
  const closing = runner
  runner = undefined
  await closing?.close()
  trace('deactivated')
}
