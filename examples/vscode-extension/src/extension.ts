// The VS Code side: commands that pick a probe, ask for input, run it, and show the result.
import * as vscode from 'vscode'
import { ProbeRunner, type CancellationLike, type RunSummary } from './probe-runner'

let runner: ProbeRunner | undefined

export function activate(context: vscode.ExtensionContext): void {
  const output = vscode.window.createOutputChannel('Wasm Probe')
  context.subscriptions.push(output)
  try {
    // The extension's own guests ship in dist/guests/, each precompiled for the VSIX's target.
    runner = new ProbeRunner({ guestsDir: context.asAbsolutePath('dist/guests'), log: (line) => output.appendLine(line) })
  } catch (e) {
    // No native binary for this platform: say so instead of failing activation.
    void vscode.window.showErrorMessage(`Wasm Probe is unavailable here: ${(e as Error).message}`)
    return
  }

  /** Asks for the JSON input, runs `start` under a cancellable progress notification, shows the result. */
  async function askAndRun(start: (active: ProbeRunner, input: unknown, token: CancellationLike) => Promise<RunSummary>): Promise<void> {
    if (!runner) return
    const text = await vscode.window.showInputBox({ prompt: 'Input (JSON)', value: '{}' })
    if (text === undefined) return
    let input: unknown
    try {
      input = JSON.parse(text)
    } catch (e) {
      void vscode.window.showErrorMessage(`The input is not JSON: ${(e as Error).message}`)
      return
    }
    const active = runner
    const summary = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'Running probe…', cancellable: true },
      (_progress, token) => start(active, input, token),
    )
    output.appendLine(summary.headline)
    if (summary.ok) void vscode.window.showInformationMessage(summary.headline)
    else void vscode.window.showErrorMessage(summary.headline)
  }

  context.subscriptions.push(
    vscode.commands.registerCommand('wasmProbe.run', async () => {
      const picked = await vscode.window.showOpenDialog({
        canSelectMany: false,
        filters: { WebAssembly: ['wasm', 'wat'] },
        openLabel: 'Run probe',
      })
      if (!picked || picked.length === 0) return
      const file = picked[0].fsPath
      await askAndRun((active, input, token) => active.run({ file, input, token, onLog: (line) => output.appendLine(line) }))
    }),
    vscode.commands.registerCommand('wasmProbe.runBundled', async () => {
      const guests = runner?.bundledGuests() ?? []
      if (guests.length === 0) {
        void vscode.window.showErrorMessage('This build of Wasm Probe has no bundled probes.')
        return
      }
      const guest = await vscode.window.showQuickPick(guests, { placeHolder: 'A probe that ships with the extension' })
      if (guest === undefined) return
      await askAndRun((active, input, token) => active.runBundled({ guest, input, token, onLog: (line) => output.appendLine(line) }))
    }),
    // A typed export: the document's text goes in as a string and a record comes back, no JSON.
    vscode.commands.registerCommand('wasmProbe.documentStats', async () => {
      const editor = vscode.window.activeTextEditor
      if (!runner || !editor) {
        void vscode.window.showErrorMessage('Open a document first.')
        return
      }
      const active = runner
      const text = editor.document.getText()
      const summary = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Window, title: 'Counting…', cancellable: true },
        (_progress, token) => active.summarize(text, token),
      )
      if (!summary.ok || !summary.value) {
        void vscode.window.showErrorMessage(summary.headline ?? 'the text-stats probe failed')
        return
      }
      const { words, lines, longestWord } = summary.value
      const line = `${words} words, ${lines} lines${longestWord ? `, longest word: ${longestWord}` : ''}`
      output.appendLine(`${editor.document.fileName}: ${line}`)
      void vscode.window.showInformationMessage(line)
    }),
  )
}

export async function deactivate(): Promise<void> {
  await runner?.close()
  runner = undefined
}
