// npm run demo: loads real probes — WAT, C (clang + wasi-libc), JavaScript (componentize-js) and a
// JavaScript script from source (the built-in engine) — runs them, and prints what they answered with their metrics; then shows hostile guests being
// stopped without harm to the host.
import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const { WasmRuntime } = createRequire(import.meta.url)(join(root, 'index.js'))

const probes = [
  { file: 'examples/guests/wat/word-count.wat', input: { text: 'the quick brown fox jumps over the lazy dog' } },
  { file: 'build/guests/c/greet.wasm', input: { name: 'Ada' } },
  { file: 'build/guests/js/greet.wasm', input: { name: 'Grace' } },
  { file: 'build/guests/js/greet.wasm', input: { nobody: true } },
  // JavaScript from source, on the built-in engine (no build step).
  { file: 'examples/guests/scripts/summary.mjs', input: { text: 'scripts run from source in the same sandbox' } },
]

const hostile = [
  { what: 'infinite loop, timeoutMs 200', file: '__test__/guests/loop.wat', limits: { timeoutMs: 200 } },
  { what: 'infinite loop, fuel 1e6', file: '__test__/guests/loop.wat', limits: { fuel: 1_000_000 } },
  { what: 'memory bomb, memoryBytes 4 MiB', file: '__test__/guests/membomb.wat', limits: { memoryBytes: 4 << 20 } },
  { what: 'unbounded recursion', file: '__test__/guests/recurse.wat', limits: {} },
]

const fmt = (n) => (n >= 1000 ? `${(n / 1000).toFixed(2)} ms` : `${n.toFixed(1)} µs`)

const rt = new WasmRuntime({
  log: (r) => {
    if (!r.label.includes('http-check')) console.log(`    [${r.label} ${r.source}/${r.level}] ${r.message}`)
  },
})
console.log('wasm-probe-runtime demo\n')
for (const { file, input } of probes) {
  const t = performance.now()
  const m = await rt.loadModule(join(root, file))
  const loadMs = performance.now() - t
  console.log(`${m.name} (${m.kind}, ${(m.size / 1024).toFixed(1)} KiB, loaded in ${loadMs.toFixed(1)} ms) <- ${JSON.stringify(input)}`)
  const r = await rt.executeProbe(m, input, { label: m.name })
  const answer = r.success ? `output ${JSON.stringify(r.output)}` : `failed: ${r.error}`
  const x = r.metrics
  console.log(`  ${answer}`)
  console.log(
    `  latency ${r.latencyMs.toFixed(2)} ms | instantiate ${fmt(x.instantiateUs)} | run ${fmt(x.runUs)} | ` +
      `fuel ${x.fuelConsumed} | memory peak ${(x.memoryPeakBytes / 1024).toFixed(0)} KiB | host calls ${x.hostCalls}\n`,
  )
}

// HTTP probes against a server on this machine, started here. Requests are made by Node's fetch
// after the runtime checked them against the grant.
const server = createServer((req, res) => {
  if (req.url === '/health') {
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.end('ok')
  } else {
    res.writeHead(404)
    res.end()
  }
})
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
const origin = `http://127.0.0.1:${server.address().port}`
console.log(`HTTP probes against ${origin}:`)
for (const file of ['build/guests/c/http-check.wasm', 'build/guests/js/http-check.wasm']) {
  const m = await rt.loadModule(join(root, file))
  for (const [what, url, capabilities] of [
    ['granted', `${origin}/health`, { http: { allow: [origin] } }],
    ['granted, 404', `${origin}/missing`, { http: { allow: [origin] } }],
    ['no grant', `${origin}/health`, undefined],
  ]) {
    const r = await rt.executeProbe(m, { url }, { capabilities, label: `${m.name}` })
    const answer = r.success ? JSON.stringify(r.output) : `failed: ${r.error}`
    console.log(`  ${m.kind === 'component' ? 'JS' : 'C '} ${what.padEnd(12)} ${answer}`)
  }
}
server.close()
console.log()

console.log('hostile guests (each stopped; the host carries on):')
for (const { what, file, limits } of hostile) {
  const m = await rt.loadModule(join(root, file))
  const t = performance.now()
  try {
    await rt.executeProbe(m, null, { limits })
    console.log(`  ${what}: finished?!`)
  } catch (e) {
    console.log(`  ${what}: ${e.code} after ${(performance.now() - t).toFixed(1)} ms — ${e.message.split('\n')[0]}`)
  }
}
console.log('\nstats:', JSON.stringify(rt.stats()))
await rt.close()
