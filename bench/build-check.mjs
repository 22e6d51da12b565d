#!/usr/bin/env node
// Compares builds of the addon: how fast the `.node` in place compiles, loads WAT and calls.
// Each measurement runs in a fresh child process (the runtime caches compiled modules per process).
// Used to judge release-profile choices (see README, "Binary size"): build one variant, run this,
// build the other, run it again — better, alternate copies of the two `.node` files several times.
//   node bench/build-check.mjs
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const [mode, arg] = process.argv.slice(2)

if (mode) {
  const { WasmRuntime } = await import(join(root, 'index.js'))
  const rt = new WasmRuntime()
  if (mode === 'load') {
    const t = performance.now()
    await rt.loadModule(arg)
    console.log((performance.now() - t).toFixed(0))
  } else {
    const m = await rt.loadModule(join(root, '__test__', 'guests', 'echo.wat'))
    const trip = []
    const inside = []
    for (let i = 0; i < 3000; i++) {
      const s = performance.now()
      const r = await rt.executeProbe(m, { name: 'x' })
      trip.push((performance.now() - s) * 1000)
      inside.push(r.metrics.instantiateUs + r.metrics.runUs)
    }
    const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1].toFixed(1)
    console.log(`${median(trip)} ${median(inside)}`)
  }
  await rt.close()
} else {
  const work = mkdtempSync(join(tmpdir(), 'wasm-probe-build-check-'))
  try {
    const wat = join(work, 'big.wat')
    const funcs = Array.from({ length: 20000 }, (_, i) => `(func (param i32) (result i32) local.get 0 i32.const ${i} i32.add)`)
    writeFileSync(wat, `(module ${funcs.join('\n')})`)
    const child = (...args) => execFileSync(process.execPath, [fileURLToPath(import.meta.url), ...args], { encoding: 'utf8' }).trim()
    const js = child('load', join(root, 'build', 'guests', 'js', 'greet.wasm'))
    const text = child('load', wat)
    const [trip, inside] = child('call').split(' ')
    console.log(`compile the componentize-js guest: ${js} ms`)
    console.log(`load a ${(funcs.join('\n').length / 1e6).toFixed(1)} MB WAT module: ${text} ms`)
    console.log(`echo probe: round trip median ${trip} µs, instantiate+run median ${inside} µs`)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}
