// The example extension measured inside the real VS Code extension host (code-server 4.139.1,
// Node 24; scripts/vscode-host/) next to the same work in plain Node 24 — the Node binary the
// host test installs, so the difference is the host, not the Node version.
//
//   BENCH_ONLY=vscode npm run bench      (also part of `npm run bench`)
//   BENCH_VSCODE_RUNS=5                  fresh processes per row (default 3)
//
// Rows, each run in a FRESH process (in the host: a reloaded window: a new extension host process, as
// code-server starts one per window; in Node: a new `node` process):
//   - first result of the 12 MB componentize-js guest (examples/guests/js/greet.js), timed from
//     just before the extension activates (host: extension.activate(), which requires the bundle
//     and the addon; Node: require of the runner from the installed extension) to the resolved
//     command: picked with "Run a probe…" and an empty compiled-code cache (cold), the same again
//     with the cache the cold run filled (cached), and the bundled greet from its precompiled
//     artifact ("Run a bundled probe…");
//     Each host row starts 3 s after the reloaded window's driver reported in, when the start-up
//     of VS Code's own extensions on that thread is over.
//   - the echo probe's sequential round trip: echo-loop.js (2000 executeProbe calls after 200
//     warm-up ones) with the extension's own copy of the addon; median per call and the JS
//     thread's busy time per call (performance.eventLoopUtilization()).
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { packageExtension } from '../examples/vscode-extension/scripts/package.mjs'
import { HOST_DIR, ensureVsCodeHost } from '../scripts/vscode-host/install.mjs'
import { EXAMPLE_ID, HostSession, packageDriver, sleep } from '../scripts/vscode-host/session.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')
const RUNS = Number(process.env.BENCH_VSCODE_RUNS || 3)
const JS_GUEST = join(root, 'build', 'guests', 'js', 'greet.wasm')
const ECHO = join(root, '__test__', 'guests', 'echo.wat')
const INPUT = { name: 'Grace' }
const SETTLE_MS = 3000
const round = (x, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits
const { median } = createRequire(import.meta.url)('../scripts/vscode-host/echo-loop.js')

function plainNode(node, job) {
  const r = spawnSync(node, [join(here, 'vscode-host-child.cjs'), JSON.stringify(job)], { encoding: 'utf8', timeout: 180_000, maxBuffer: 16 << 20 })
  const line = (r.stdout || '').split('\n').find((l) => l.startsWith('@@result '))
  if (r.status !== 0 || !line) throw new Error(`plain-Node child ${JSON.stringify(job)} failed (status ${r.status}):\n${r.stderr}`)
  return JSON.parse(line.slice('@@result '.length))
}

/** The example's compiled-code cache in the host (context.globalStorageUri/compiled). */
const hostCacheDir = (session) => join(session.userData, 'User', 'globalStorage', EXAMPLE_ID, 'compiled')

export async function runVsCodeHostBench() {
  const host = ensureVsCodeHost()
  const vsix = await packageExtension(`linux-${process.arch}`, join(HOST_DIR, 'vsix'))
  const driver = packageDriver(join(HOST_DIR, 'driver-vsix'))
  const session = await HostSession.start({ host, vsixes: [vsix, driver], dir: join(HOST_DIR, 'bench') })
  const host_ = { cold: [], cached: [], precompiled: [], activate: [] }
  const node = { cold: [], cached: [], precompiled: [], activate: [] }
  let echoHost
  let echoNode
  let info
  try {
    info = await session.call('process')
    const { extensionPath } = await session.call('extension', { id: EXAMPLE_ID })
    const nodeCache = join(HOST_DIR, 'bench', 'node-cache')
    for (let run = 0; run < RUNS; run++) {
      for (const kind of ['cold', 'cached', 'precompiled']) {
        if (kind === 'cold') rmSync(hostCacheDir(session), { recursive: true, force: true })
        await session.reloadWindow()
        // Measured once the new window's start-up (VS Code's own extensions activating on the same
        // thread) has died down: an extension without activation events starts on its first command.
        await sleep(SETTLE_MS)
        const [command, args] = kind === 'precompiled' ? ['wasmProbe.runBundled', ['greet', INPUT]] : ['wasmProbe.run', [JS_GUEST, INPUT]]
        const r = await session.call('firstResult', { id: EXAMPLE_ID, command, args })
        if (!r.value?.ok) throw new Error(`${kind} in the host: ${JSON.stringify(r.value)}`)
        // The cold row filled the cache the next one reads: were it elsewhere, "cold" would not be.
        if (kind === 'cold' && !(existsSync(hostCacheDir(session)) && readdirSync(hostCacheDir(session)).length > 0)) {
          throw new Error(`the cold run left nothing in ${hostCacheDir(session)}: the example's cache is not there`)
        }
        host_[kind].push(r.totalMs)
        host_.activate.push(r.activateMs)

        // The host's background work (its tier-up compile) ends with its window, so that it does
        // not compete with the Node run: a fresh window, idle, while the Node process runs.
        await session.reloadWindow()
        await sleep(SETTLE_MS)
        if (kind === 'cold') rmSync(nodeCache, { recursive: true, force: true })
        const n = plainNode(host.node, { extensionPath, cacheDir: nodeCache, input: INPUT, ...(kind === 'precompiled' ? { bundled: 'greet' } : { file: JS_GUEST }) })
        node[kind].push(n.totalMs)
        node.activate.push(n.activateMs)
      }
    }
    await session.reloadWindow()
    await sleep(SETTLE_MS)
    echoHost = await session.call('echo', { addon: join(extensionPath, 'dist', 'wasm-probe-runtime'), guest: ECHO, calls: 2000 })
    echoNode = plainNode(host.node, { kind: 'echo', extensionPath, guest: ECHO, calls: 2000 })
  } finally {
    await session.stop()
  }
  const row = (label, h, n, unit = 'ms') => ({ row: label, 'VS Code extension host': `${round(h)} ${unit}`, 'plain Node 24': `${round(n)} ${unit}`, 'host / Node': round(h / n, 2) })
  const rows = [
    row('JS guest first result, empty cache (compiled, baseline tier)', median(host_.cold), median(node.cold)),
    row('JS guest first result, from the compiled-code cache', median(host_.cached), median(node.cached)),
    row('JS guest first result, bundled precompiled artifact', median(host_.precompiled), median(node.precompiled)),
    row('activation alone (require bundle + addon, new WasmRuntime)', median(host_.activate), median(node.activate)),
    row('echo probe, sequential round trip (median)', echoHost.medianUs, echoNode.medianUs, 'µs'),
    row('echo probe, JS-thread busy per call', echoHost.jsBusyUsPerCall, echoNode.jsBusyUsPerCall, 'µs'),
  ]
  console.log(`\nVS Code extension host (code-server, VS Code ${info.vscode}, Node ${info.versions.node}) vs plain Node ${info.versions.node}; medians of ${RUNS} fresh processes`)
  console.table(rows)
  console.log('echo, raw:', { host: echoHost, node: echoNode })
  return rows
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  runVsCodeHostBench().catch((e) => {
    console.error(e)
    process.exit(1)
  })
}
