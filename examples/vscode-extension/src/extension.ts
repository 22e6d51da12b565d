// The VS Code side: a command that picks a probe, asks for input, runs it, and shows the result.
import * as vscode from 'vscode'
import { ProbeRunner } from './probe-runner'

let runner: ProbeRunner | undefined

export function activate(context: vscode.ExtensionContext): void {
  const output = vscode.window.createOutputChannel('Wasm Probe')
  context.subscriptions.push(output)
  try {
    runner = new ProbeRunner()
  } catch (e) {
    // No native binary for this platform: say so instead of failing activation.
    void vscode.window.showErrorMessage(`Wasm Probe is unavailable here: ${(e as Error).message}`)
    return
  }
  context.subscriptions.push(
    vscode.commands.registerCommand('wasmProbe.run', async () => {
      const picked = await vscode.window.showOpenDialog({
        canSelectMany: false,
        filters: { WebAssembly: ['wasm', 'wat'] },
        openLabel: 'Run probe',
      })
      if (!picked || picked.length === 0 || !runner) return
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
        (_progress, token) => active.run({ file: picked[0].fsPath, input, token, onLog: (line) => output.appendLine(line) }),
      )
      output.appendLine(summary.headline)
      if (summary.ok) void vscode.window.showInformationMessage(summary.headline)
      else void vscode.window.showErrorMessage(summary.headline)
    }),
  )
}

export async function deactivate(): Promise<void> {
  await runner?.close()
  runner = undefined
}
