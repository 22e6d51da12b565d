// The VS Code host test's hands inside the extension host: a loopback HTTP endpoint (POST a JSON
// {op, ...}) that runs commands, activates extensions and reports on the process it runs in. It
// opens only when WASM_PROBE_VSCODE_DRIVER names a directory; it writes ready-<pid>.json there
// with its port, so the test finds the current extension host after a restart.
const vscode = require('vscode')
const { readFileSync, renameSync, writeFileSync } = require('node:fs')
const { createServer } = require('node:http')
const { join } = require('node:path')
const { performance } = require('node:perf_hooks')
const { echoLoop } = require('./echo-loop.js')

/** What each op does with the request body; each answers a JSON-able value. */
const ops = {
  /** `vscode.commands.executeCommand(command, ...args)`. */
  async command({ command, args = [] }) {
    return { value: (await vscode.commands.executeCommand(command, ...args)) ?? null }
  },
  /** Activates extension `id` (if it is not yet) and runs `command`: how long each step took. */
  async firstResult({ id, command, args = [] }) {
    const extension = vscode.extensions.getExtension(id)
    if (!extension) throw new Error(`no extension ${id}`)
    const wasActive = extension.isActive
    const start = performance.now()
    await extension.activate()
    const activated = performance.now()
    const value = await vscode.commands.executeCommand(command, ...args)
    const done = performance.now()
    return { wasActive, activateMs: activated - start, totalMs: done - start, value: value ?? null }
  },
  async extension({ id }) {
    const extension = vscode.extensions.getExtension(id)
    return extension ? { isActive: extension.isActive, extensionPath: extension.extensionPath, version: extension.packageJSON.version } : null
  },
  /** Opens an untitled document with `content` in an editor (the active one afterwards). */
  async openDocument({ content, language = 'plaintext' }) {
    const document = await vscode.workspace.openTextDocument({ content, language })
    await vscode.window.showTextDocument(document)
    return { uri: document.uri.toString() }
  },
  /** The native modules (.node files) mapped into this process. */
  async nativeModules() {
    const maps = readFileSync('/proc/self/maps', 'utf8').split('\n')
    return { paths: [...new Set(maps.map((l) => l.split(/\s+/).slice(5).join(' ')).filter((p) => p.endsWith('.node')))] }
  },
  async process() {
    return { pid: process.pid, execPath: process.execPath, versions: process.versions, vscode: vscode.version, appName: vscode.env.appName }
  },
  /** Sequential echo probes with the addon at `addon` (see echo-loop.js). */
  async echo({ addon, guest, calls }) {
    return echoLoop(require(addon).WasmRuntime, guest, calls)
  },
}

function activate(context) {
  const dir = process.env.WASM_PROBE_VSCODE_DRIVER
  if (!dir) return
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk) => (body += chunk))
    req.on('end', async () => {
      let answer
      try {
        const request = JSON.parse(body)
        if (!Object.hasOwn(ops, request.op)) throw new Error(`unknown op ${request.op}`)
        answer = { ...(await ops[request.op](request)), ok: true }
      } catch (e) {
        answer = { ok: false, error: String((e && e.stack) || e) }
      }
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify(answer))
    })
  })
  server.listen(0, '127.0.0.1', () => {
    const ready = { port: server.address().port, pid: process.pid, time: Date.now() }
    // Renamed into place: the test never reads half a file.
    writeFileSync(join(dir, `.ready-${process.pid}.tmp`), JSON.stringify(ready))
    renameSync(join(dir, `.ready-${process.pid}.tmp`), join(dir, `ready-${process.pid}.json`))
  })
  context.subscriptions.push({ dispose: () => server.close() })
}

module.exports = { activate, deactivate() {} }
