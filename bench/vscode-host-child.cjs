// One fresh plain-Node process of bench/vscode-host.mjs, doing what the extension host does in
// the same run: `first-result` loads the example extension's runner from its installed files and
// times its first result (a picked JS guest, compiled or from the cache; or the bundled one, from
// its artifact); `echo` runs the shared echo loop with the extension's copy of the addon.
// Prints one line: @@result <json>.
const { performance } = require('node:perf_hooks')
const { join } = require('node:path')

async function main() {
  const job = JSON.parse(process.argv[2])
  if (job.kind === 'echo') {
    const { echoLoop } = require(join(__dirname, '..', 'scripts', 'vscode-host', 'echo-loop.js'))
    const { WasmRuntime } = require(join(job.extensionPath, 'dist', 'wasm-probe-runtime'))
    return echoLoop(WasmRuntime, job.guest, job.calls)
  }
  const start = performance.now()
  // What activate() does before the first command: load the bundle, which loads the addon.
  const { ProbeRunner, neverCancelled: never } = require(join(job.extensionPath, 'dist', 'probe-runner.js'))
  const runner = new ProbeRunner({ guestsDir: join(job.extensionPath, 'dist', 'guests'), cacheDir: job.cacheDir })
  const activated = performance.now()
  const summary = job.bundled
    ? await runner.runBundled({ guest: job.bundled, input: job.input, token: never, onLog() {} })
    : await runner.run({ file: job.file, input: job.input, token: never, onLog() {} })
  const done = performance.now()
  await runner.close()
  if (!summary.ok) throw new Error(summary.headline)
  return { activateMs: activated - start, totalMs: done - start, loadedFrom: summary.loadedFrom }
}

main().then(
  (r) => console.log(`@@result ${JSON.stringify(r)}`),
  (e) => {
    console.error(e)
    process.exit(1)
  },
)
