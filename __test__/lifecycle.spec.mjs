import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { WasmRuntime, probeWat, rejectsWith, root, watGuest } from './helpers.mjs'

const OK = probeWat('(data (i32.const 0) "1") (func (export "execute") (result i32) (call $output_write (i32.const 0) (i32.const 1)) (i32.const 0))')

describe('concurrency and stats', () => {
  test('1000 executions at once over a pool of 64 store slots all complete, and stats count them', async () => {
    const rt = new WasmRuntime({ workerThreads: 2 })
    const m = await rt.loadModule(Buffer.from(OK))
    const results = await Promise.all(Array.from({ length: 1000 }, () => rt.executeProbe(m)))
    expect(results.every((r) => r.success && r.output === 1)).toBe(true)
    const s = rt.stats()
    expect(s).toMatchObject({ modules: 1, executions: 1000, active: 0, queued: 0, workerThreads: 2 })
    await rt.close()
  })

  test('more concurrent executions than store slots queue instead of failing', async () => {
    const rt = new WasmRuntime()
    const loop = await rt.loadModule(watGuest('loop.wat'))
    const running = Array.from({ length: 80 }, () => rt.executeProbe(loop, null, { limits: { timeoutMs: 300 } }).catch((e) => e.code))
    await new Promise((r) => setTimeout(r, 100))
    const during = rt.stats()
    // A runtime's share of the process's 64 stores is 48 (16 are kept for runtimes holding fewer
    // than 4, src/store_share.rs); the rest wait for one.
    expect(during.active).toBe(48)
    expect(during.queued).toBe(32)
    const codes = await Promise.all(running)
    expect(new Set(codes)).toEqual(new Set(['ERR_WASM_TIMEOUT']))
    await rt.close()
  })
})

describe('cancellation', () => {
  test('an already-aborted signal rejects before running', async () => {
    const rt = new WasmRuntime()
    const m = await rt.loadModule(Buffer.from(OK))
    const before = rt.stats().executions
    await rejectsWith(rt.executeProbe(m, null, { signal: AbortSignal.abort() }), 'ERR_WASM_CANCELLED')
    expect(rt.stats().executions).toBe(before)
    await rt.close()
  })

  test('aborting a running guest interrupts it with ERR_WASM_CANCELLED', async () => {
    const rt = new WasmRuntime()
    const m = await rt.loadModule(watGuest('loop.wat'))
    const ac = new AbortController()
    const started = performance.now()
    setTimeout(() => ac.abort(), 50)
    const e = await rejectsWith(rt.executeProbe(m, null, { signal: ac.signal }), 'ERR_WASM_CANCELLED')
    expect(performance.now() - started).toBeLessThan(5000)
    expect(e.metrics.runUs).toBeGreaterThan(30_000)
    await rt.close()
  })
})

describe('close', () => {
  test('settles in-flight executions with ERR_WASM_CLOSED and refuses new work', async () => {
    const rt = new WasmRuntime()
    const loop = await rt.loadModule(watGuest('loop.wat'))
    const ok = await rt.loadModule(Buffer.from(OK))
    const inFlight = [rt.executeProbe(loop), rt.executeProbe(loop)].map((p) => p.then(() => 'resolved', (e) => e.code))
    await new Promise((r) => setTimeout(r, 30))
    await rt.close()
    expect(await Promise.all(inFlight)).toEqual(['ERR_WASM_CLOSED', 'ERR_WASM_CLOSED'])
    await rejectsWith(rt.executeProbe(ok), 'ERR_WASM_CLOSED')
    await rejectsWith(rt.loadModule(Buffer.from(OK)), 'ERR_WASM_CLOSED')
    await rt.close() // twice is fine
    expect(rt.stats().active).toBe(0)
  })

  test('a process that used the runtime exits on its own, closed or not', () => {
    const script = `
      const { WasmRuntime } = require(${JSON.stringify(join(root, 'index.js'))})
      const a = new WasmRuntime()
      const b = new WasmRuntime()
      ;(async () => {
        const m = await a.loadModule('(module (func (export "execute")))')
        await a.executeProbe(m)
        await a.close()
        const n = await b.loadModule('(module (func (export "execute")))')
        await b.executeProbe(n)
        console.log('done')
      })()`
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 })
    expect(r.stderr).toBe('')
    expect(r.stdout.trim()).toBe('done')
    expect(r.status).toBe(0)
  })
})

describe('panics', () => {
  test('a Rust panic under a call becomes ERR_WASM_HOST, and the process carries on', () => {
    // WASM_PROBE_TEST_HOOKS=1 adds probe.__test_panic, a host function that panics.
    const script = `
      const { WasmRuntime } = require(${JSON.stringify(join(root, 'index.js'))})
      ;(async () => {
        const rt = new WasmRuntime()
        const m = await rt.loadModule('(module (import "probe" "__test_panic" (func $p (result i32))) (func (export "execute") (result i32) (call $p)) (func (export "ok") (result i32) (i32.const 0)))')
        const codes = []
        await rt.executeProbe(m).catch((e) => codes.push(e.code))
        const instance = await rt.instantiate(m)
        await instance.call('execute').catch((e) => codes.push(e.code))
        codes.push(instance.state)
        codes.push((await instance.call('ok')).success)
        codes.push((await rt.executeProbe(m, null, { export: 'ok' })).success)
        console.log(JSON.stringify(codes))
        await rt.close()
      })()`
    const r = spawnSync(process.execPath, ['-e', script], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, WASM_PROBE_TEST_HOOKS: '1' },
    })
    expect(r.status).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual(['ERR_WASM_HOST', 'ERR_WASM_HOST', 'restarting', true, true])
    expect(r.stderr).toMatch(/fault injection/)
  })
})

describe('living with V8 WebAssembly in the same process', () => {
  test("V8's own wasm traps and Wasmtime's traps both stay contained", async () => {
    const rt = new WasmRuntime()
    const oob = await rt.loadModule('(module (memory 1) (func (export "execute") (result i32) (i32.load (i32.const 70000))))')
    // The same out-of-bounds load, compiled by V8 (its trap handler catches the fault).
    const bytes = new Uint8Array([
      0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 127, 3, 2, 1, 0, 5, 3, 1, 0, 1, 7, 11, 1, 7, 101, 120, 101, 99,
      117, 116, 101, 0, 0, 10, 11, 1, 9, 0, 65, 240, 162, 4, 40, 2, 0, 11,
    ])
    const v8 = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports.execute
    for (let i = 0; i < 20; i++) {
      expect(() => v8()).toThrow(WebAssembly.RuntimeError)
      const e = await rejectsWith(rt.executeProbe(oob), 'ERR_WASM_TRAP')
      expect(e.trap.kind).toBe('memory-out-of-bounds')
    }
    await rt.close()
  })
})
