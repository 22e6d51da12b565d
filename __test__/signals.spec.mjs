// Signal-handler safety where VS Code runs guests: Wasmtime traps continuously (every kind that is
// a hardware fault: out-of-bounds loads, stack overflow, division by zero) while the same process
// spawns hundreds of child processes, as the extension host does all the time, and V8 traps its
// own WebAssembly on the main thread and in a worker. Every trap is reported as itself, every
// child exits cleanly, and the process lives on.
import { spawn } from 'node:child_process'
import { Worker } from 'node:worker_threads'
import { describe, expect, test } from 'vitest'
import { WasmRuntime, probeWat } from './helpers.mjs'

// V8: an out-of-bounds load (its trap handler catches the fault) and a division by zero.
const V8_GUEST = `
const { parentPort, workerData } = require('node:worker_threads')
const bytes = new Uint8Array(workerData.bytes)
const { oob } = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports
let trapped = 0
for (let i = 0; i < workerData.rounds; i++) {
  try { oob() } catch (e) { if (e instanceof WebAssembly.RuntimeError) trapped++ }
}
parentPort.postMessage(trapped)`

// (module (memory 1) (func (export "oob") (result i32) (i32.load (i32.const 70000))))
const V8_OOB = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 127, 3, 2, 1, 0, 5, 3, 1, 0, 1, 7, 7, 1, 3, 111, 111, 98, 0, 0,
  10, 11, 1, 9, 0, 65, 240, 162, 4, 40, 2, 0, 11,
])

const TRAPS = {
  'memory-out-of-bounds': probeWat('(func (export "execute") (result i32) (i32.load (i32.const 70000)))'),
  'stack-overflow': probeWat('(func $r (export "execute") (result i32) (i32.add (call $r) (i32.const 1)))'),
  'integer-division-by-zero': probeWat('(func (export "execute") (result i32) (i32.div_s (i32.const 1) (i32.const 0)))'),
}

function child() {
  return new Promise((resolve) => {
    const p = spawn(process.platform === 'win32' ? 'cmd' : 'sh', process.platform === 'win32' ? ['/c', 'exit 0'] : ['-c', 'exit 0'])
    p.on('exit', (code, signal) => resolve(signal || code))
    p.on('error', (e) => resolve(e.message))
  })
}

describe('signal handlers under an extension host load', () => {
  test('Wasmtime traps, V8 traps and 300 child processes at once', async () => {
    const rt = new WasmRuntime({ limits: { stackBytes: 64 * 1024 } })
    const modules = await Promise.all(Object.entries(TRAPS).map(async ([kind, wat]) => [kind, await rt.loadModule(Buffer.from(wat))]))
    const seen = {}
    let spawning = true

    // Each side goes on until the children are done and it has done a number of rounds of its
    // own: on a loaded machine the children may all be done before a slow side got far.
    const ROUNDS = 20
    const wasmtime = (async () => {
      for (let round = 0; spawning || round < ROUNDS; round++) {
        await Promise.all(
          modules.map(async ([kind, m]) => {
            const e = await rt.executeProbe(m).then(() => null, (err) => err)
            const got = e && (e.code === 'ERR_WASM_STACK_OVERFLOW' ? 'stack-overflow' : e.trap && e.trap.kind)
            seen[got] = (seen[got] ?? 0) + 1
          }),
        )
      }
    })()
    const v8Main = (async () => {
      const { oob } = new WebAssembly.Instance(new WebAssembly.Module(V8_OOB)).exports
      let trapped = 0
      for (let round = 0; spawning || round < ROUNDS; round++) {
        try {
          oob()
        } catch (e) {
          if (e instanceof WebAssembly.RuntimeError) trapped++
        }
        await new Promise((r) => setImmediate(r))
      }
      return trapped
    })()
    const v8Worker = new Promise((resolve, reject) => {
      const w = new Worker(V8_GUEST, { eval: true, workerData: { bytes: [...V8_OOB], rounds: 20_000 } })
      w.on('message', resolve)
      w.on('error', reject)
    })

    const exits = []
    for (let batch = 0; batch < 30; batch++) exits.push(...(await Promise.all(Array.from({ length: 10 }, child))))
    spawning = false
    await wasmtime
    const v8Trapped = await v8Main
    const workerTrapped = await v8Worker

    expect(exits).toEqual(Array(300).fill(0))
    expect(Object.keys(seen).sort()).toEqual(Object.keys(TRAPS).sort())
    for (const kind of Object.keys(TRAPS)) expect(seen[kind]).toBeGreaterThanOrEqual(ROUNDS)
    expect(v8Trapped).toBeGreaterThanOrEqual(ROUNDS)
    expect(workerTrapped).toBe(20_000)
    // And the runtime is unharmed afterwards.
    const ok = await rt.loadModule(Buffer.from(probeWat('(func (export "execute") (result i32) (i32.const 0))')))
    expect((await rt.executeProbe(ok)).success).toBe(true)
    await rt.close()
  })
})
