// The process fuzz cases run in (scripts/fuzz.mjs forks it): loads each case with the real
// addon and runs it with small limits; answers one message per case. If a case kills this
// process, the parent sees it die and keeps the case.
import { createServer } from 'node:http'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const require = createRequire(import.meta.url)
const { WasmRuntime, WasmError } = require('../index.js')

// A loopback server the guests are granted, so that http_fetch calls reach a real peer.
const server = createServer((req, res) => {
  req.resume()
  req.on('end', () => res.end('{"fuzz":true}'))
})
await new Promise((r) => server.listen(0, '127.0.0.1', r))
const origin = `http://127.0.0.1:${server.address().port}`

// A read-only directory with one file, preopened for every other case.
const dir = mkdtempSync(join(tmpdir(), 'wasm-probe-fuzz-'))
mkdirSync(join(dir, 'data'))
writeFileSync(join(dir, 'data', 'file.txt'), 'fuzz')

const limits = { memoryBytes: 4 * 1024 * 1024, stackBytes: 256 * 1024, tableElements: 1000, fuel: 1_000_000, timeoutMs: 1000, openFiles: 8 }
const runtimes = {
  optimizing: new WasmRuntime({ compiler: 'optimizing', limits, maxTotalMemoryBytes: 64 * 1024 * 1024 }),
  baseline: new WasmRuntime({ compiler: 'baseline', limits, maxTotalMemoryBytes: 64 * 1024 * 1024 }),
}

function capabilities(i, fs) {
  const caps = { http: { allow: [origin], timeoutMs: 200 }, env: { FUZZ: String(i) }, args: ['fuzz'] }
  if (fs) caps.fs = { preopens: [{ hostPath: join(dir, 'data'), guestPath: '/data', readonly: true }] }
  return caps
}

/** What a runtime still holds after a case settled: nothing, or a leak. */
function leftover(rt) {
  const { instances, memoryBytes, active, queued } = rt.stats()
  return instances || memoryBytes || active || queued ? [`leak: ${JSON.stringify({ instances, memoryBytes, active, queued })}`] : []
}

/** What one run ended as: 'result', 'guest-failure', or an error code ('internal' for a panic). */
function outcome(settled) {
  if (settled.ok) return settled.value.success ? 'result' : 'guest-failure'
  const e = settled.error
  if (!(e instanceof WasmError)) return `not-a-WasmError: ${e && e.message}`
  if (/internal error|panicked/.test(e.message)) return `internal: ${e.message.split('\n')[0]}`
  if (e.code === 'ERR_WASM_HOST') return `ERR_WASM_HOST: ${e.message.split('\n')[0].slice(0, 120)}`
  return e.code
}

const settle = (promise) =>
  promise.then(
    (value) => ({ ok: true, value }),
    (error) => ({ ok: false, error }),
  )

async function run({ i, bytes, instance, compiler, fs }) {
  const rt = runtimes[compiler] ?? runtimes.optimizing
  const outcomes = await runOn(rt, { i, bytes, instance, fs })
  return [...outcomes, ...leftover(rt)]
}

async function runOn(rt, { i, bytes, instance, fs }) {
  const loaded = await settle(rt.loadModule(Buffer.from(bytes, 'base64')))
  if (!loaded.ok) return [outcome(loaded)]
  const module = loaded.value
  const options = { capabilities: capabilities(i, fs), input: { i } }
  if (!instance) return [outcome(await settle(rt.executeProbe(module, options.input, { capabilities: options.capabilities })))]
  // The long-lived path: start, two calls (state kept or rebuilt after a crash), dispose.
  const made = await settle(rt.instantiate(module, { capabilities: options.capabilities, timeouts: { activation: 1000 } }))
  if (!made.ok) return [`instantiate:${outcome(made)}`]
  const outcomes = []
  for (let call = 0; call < 2; call++) outcomes.push(`call:${outcome(await settle(made.value.call('execute', options.input)))}`)
  await made.value.dispose()
  return outcomes
}

// The parent went away: so does this process (its loopback server would keep it alive).
process.on('disconnect', () => process.exit(0))
process.on('message', async (message) => {
  if (message.type === 'stats') {
    const stats = Object.fromEntries(Object.entries(runtimes).map(([k, rt]) => [k, rt.stats()]))
    process.send({ type: 'stats', stats })
    return
  }
  const outcomes = await run(message)
  process.send({ type: 'done', i: message.i, outcomes })
})
process.send({ type: 'ready' })
