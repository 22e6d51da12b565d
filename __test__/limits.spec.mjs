import { afterAll, describe, expect, test } from 'vitest'
import { WasmRuntime, guest, probeWat, rejectsWith, watGuest } from './helpers.mjs'

const rt = new WasmRuntime()
afterAll(() => rt.close())
const load = (text) => rt.loadModule(Buffer.from(text))
const MiB = 1024 * 1024

describe('wall-clock timeout', () => {
  test('an infinite loop is stopped at its timeout, promptly', async () => {
    const m = await rt.loadModule(watGuest('loop.wat'))
    const started = performance.now()
    const e = await rejectsWith(rt.executeProbe(m, null, { limits: { timeoutMs: 200 } }), 'ERR_WASM_TIMEOUT')
    const elapsed = performance.now() - started
    expect(e.message).toMatch(/200 ms \(limits\.timeoutMs\)/)
    // Stopped, not left running: the bench measures how far past the deadline (a few ms).
    expect(elapsed).toBeGreaterThanOrEqual(199)
    expect(elapsed).toBeLessThan(200 + 1000)
    expect(e.metrics.runUs).toBeGreaterThan(150_000)
    expect(rt.stats().active).toBe(0)
  })

  test('the runtime default applies, and an execution may override it', async () => {
    const strict = new WasmRuntime({ limits: { timeoutMs: 50 } })
    const m = await strict.loadModule(watGuest('loop.wat'))
    const e = await rejectsWith(strict.executeProbe(m), 'ERR_WASM_TIMEOUT')
    expect(e.message).toMatch(/50 ms/)
    const e2 = await rejectsWith(strict.executeProbe(m, null, { limits: { timeoutMs: 120 } }), 'ERR_WASM_TIMEOUT')
    expect(e2.message).toMatch(/120 ms/)
    await strict.close()
  })

  test('many looping guests at once are all stopped, and the runtime keeps serving', async () => {
    const loop = await rt.loadModule(watGuest('loop.wat'))
    const ok = await load(probeWat('(func (export "execute") (result i32) (i32.const 0))'))
    const loops = Array.from({ length: 8 }, () => rt.executeProbe(loop, null, { limits: { timeoutMs: 150 } }))
    const healthy = await rt.executeProbe(ok)
    expect(healthy.success).toBe(true)
    const settled = await Promise.allSettled(loops)
    for (const s of settled) expect(s.status === 'rejected' && s.reason.code).toBe('ERR_WASM_TIMEOUT')
  })
})

describe('fuel', () => {
  test('a loop with a fuel budget stops with ERR_WASM_FUEL_EXHAUSTED', async () => {
    const m = await rt.loadModule(watGuest('loop.wat'))
    const e = await rejectsWith(rt.executeProbe(m, null, { limits: { fuel: 100_000 } }), 'ERR_WASM_FUEL_EXHAUSTED')
    expect(e.message).toMatch(/100000 \(limits\.fuel\)/)
    expect(e.metrics.fuelConsumed).toBe(100_000)
  })

  test('fuelConsumed is deterministic for the same work, and a budget below it stops the guest', async () => {
    const m = await rt.loadModule(guest('test-c/wasi.wasm'))
    const a = await rt.executeProbe(m, 'read:/etc/hostname')
    const b = await rt.executeProbe(m, 'read:/etc/hostname')
    expect(a.metrics.fuelConsumed).toBeGreaterThan(1000)
    expect(a.metrics.fuelConsumed).toBe(b.metrics.fuelConsumed)
    const fit = await rt.executeProbe(m, 'read:/etc/hostname', { limits: { fuel: a.metrics.fuelConsumed } })
    expect(fit.success).toBe(true)
    expect(fit.metrics.fuelConsumed).toBe(a.metrics.fuelConsumed)
    const e = await rejectsWith(
      rt.executeProbe(m, 'read:/etc/hostname', { limits: { fuel: Math.floor(a.metrics.fuelConsumed / 2) } }),
      'ERR_WASM_FUEL_EXHAUSTED',
    )
    expect(e.trap.kind).toBe('out-of-fuel')
  })
})

describe('memory', () => {
  test('a memory bomb is refused growth, and its failure is ERR_WASM_MEMORY_LIMIT', async () => {
    const m = await rt.loadModule(watGuest('membomb.wat'))
    const e = await rejectsWith(rt.executeProbe(m, null, { limits: { memoryBytes: 4 * MiB } }), 'ERR_WASM_MEMORY_LIMIT')
    expect(e.message).toMatch(/limits\.memoryBytes = 4194304/)
    expect(e.trap.kind).toBe('unreachable-code-reached')
    expect(e.metrics.memoryPeakBytes).toBe(4 * MiB)
  })

  test('growth beyond the limit is spec-conformant: memory.grow returns -1 and a careful guest carries on', async () => {
    const m = await load(
      probeWat(`(func (export "execute") (result i32)
        (i32.store (i32.const 0) (i32.add (i32.const 48) (i32.eq (memory.grow (i32.const 1000)) (i32.const -1))))
        (call $output_write (i32.const 0) (i32.const 1))
        (i32.const 0))`),
    )
    const r = await rt.executeProbe(m, null, { limits: { memoryBytes: 2 * MiB } })
    expect(r).toMatchObject({ success: true, output: 1 })
    const roomy = await rt.executeProbe(m, null, { limits: { memoryBytes: 128 * MiB } })
    expect(roomy.output).toBe(0)
    expect(roomy.metrics.memoryPeakBytes).toBe(1001 * 65536)
  })

  test('a C guest whose malloc fails: handled, or aborted (ERR_WASM_MEMORY_LIMIT)', async () => {
    const m = await rt.loadModule(guest('test-c/memory.wasm'))
    const handled = await rt.executeProbe(m, 'carry on', { limits: { memoryBytes: 8 * MiB } })
    expect(handled.success).toBe(true)
    expect(handled.output.mib).toBeGreaterThanOrEqual(5)
    expect(handled.output.mib).toBeLessThan(8)
    expect(handled.metrics.memoryPeakBytes).toBeLessThanOrEqual(8 * MiB)
    await rejectsWith(rt.executeProbe(m, 'abort', { limits: { memoryBytes: 8 * MiB } }), 'ERR_WASM_MEMORY_LIMIT')
  })

  test('a module whose initial memory is above the limit cannot start', async () => {
    const m = await load(probeWat('(func (export "execute") (result i32) (i32.const 0))', { pages: 100 }))
    const e = await rejectsWith(rt.executeProbe(m, null, { limits: { memoryBytes: 1 * MiB } }), 'ERR_WASM_MEMORY_LIMIT')
    expect(e.message).toMatch(/limits\.memoryBytes/)
  })

  test('table growth is capped by tableElements', async () => {
    const m = await load(`(module
      (table 1 funcref)
      (func (export "execute") (result i32)
        (if (i32.eq (table.grow (ref.null func) (i32.const 500)) (i32.const -1)) (then unreachable))
        (i32.const 0)))`)
    expect((await rt.executeProbe(m, null, { limits: { tableElements: 1000 } })).success).toBe(true)
    const e = await rejectsWith(rt.executeProbe(m, null, { limits: { tableElements: 100 } }), 'ERR_WASM_MEMORY_LIMIT')
    expect(e.message).toMatch(/limits\.tableElements = 100/)
  })
})

describe('stack', () => {
  test('unbounded recursion is ERR_WASM_STACK_OVERFLOW with a backtrace', async () => {
    const m = await rt.loadModule(watGuest('recurse.wat'))
    const e = await rejectsWith(rt.executeProbe(m), 'ERR_WASM_STACK_OVERFLOW')
    expect(e.message).toMatch(/limits\.stackBytes = 1048576/)
    expect(e.trap.kind).toBe('stack-overflow')
    expect(e.trap.backtrace.length).toBeGreaterThan(10)
  })

  test('stackBytes is per execution: the same recursion fits in 8 MiB, not in 64 KiB', async () => {
    const m = await rt.loadModule(watGuest('recurse.wat'))
    const input = 'x'.repeat(60) // 60 * 64 = 3840 frames
    const big = await rt.executeProbe(m, input, { export: 'depth', limits: { stackBytes: 8 * MiB } })
    expect(big).toMatchObject({ success: true, output: { done: true } })
    await rejectsWith(rt.executeProbe(m, input, { export: 'depth', limits: { stackBytes: 64 * 1024 } }), 'ERR_WASM_STACK_OVERFLOW')
    // and the default class still works after the others were used
    expect((await rt.executeProbe(m, input, { export: 'depth' })).success).toBe(true)
  })
})

describe('traps', () => {
  test('divide by zero: trap kind and a backtrace naming the function', async () => {
    const m = await load(`(module
      (func $divide (param i32) (result i32) (i32.div_s (i32.const 1) (local.get 0)))
      (func (export "execute") (result i32) (call $divide (i32.const 0))))`)
    const e = await rejectsWith(rt.executeProbe(m), 'ERR_WASM_TRAP')
    expect(e.trap.kind).toBe('integer-division-by-zero')
    expect(e.trap.backtrace[0]).toMatch(/divide/)
    expect(e.message).toMatch(/divide by zero/)
    expect(e.message).toMatch(/wasm backtrace/)
  })

  test('unreachable and out-of-bounds memory access', async () => {
    const unreachable = await load('(module (func (export "execute") unreachable))')
    expect((await rejectsWith(rt.executeProbe(unreachable), 'ERR_WASM_TRAP')).trap.kind).toBe('unreachable-code-reached')
    const oob = await load('(module (memory 1) (func (export "execute") (result i32) (i32.load (i32.const 70000))))')
    expect((await rejectsWith(rt.executeProbe(oob), 'ERR_WASM_TRAP')).trap.kind).toBe('memory-out-of-bounds')
  })

  test('hundreds of failing executions in a row, then a healthy one', async () => {
    const bad = await load('(module (func (export "execute") unreachable))')
    const bomb = await rt.loadModule(watGuest('membomb.wat'))
    const good = await load(probeWat('(data (i32.const 0) "\\"fine\\"") (func (export "execute") (result i32) (call $output_write (i32.const 0) (i32.const 6)) (i32.const 0))'))
    const failures = []
    for (let i = 0; i < 300; i++) {
      failures.push(rt.executeProbe(i % 3 === 0 ? bomb : bad, null, { limits: { memoryBytes: MiB } }).catch((e) => e.code))
    }
    const codes = await Promise.all(failures)
    expect(codes.filter((c) => c === 'ERR_WASM_TRAP')).toHaveLength(200)
    expect(codes.filter((c) => c === 'ERR_WASM_MEMORY_LIMIT')).toHaveLength(100)
    expect(await rt.executeProbe(good)).toMatchObject({ success: true, output: 'fine' })
    expect(rt.stats().active).toBe(0)
  })
})

describe('options are checked before anything runs', () => {
  test('values out of range: ERR_INVALID_ARG_VALUE naming the option', async () => {
    const m = await load(probeWat('(func (export "execute") (result i32) (i32.const 0))'))
    const cases = [
      [{ limits: { timeoutMs: -1 } }, 'options.limits.timeoutMs'],
      [{ limits: { timeoutMs: 0 } }, 'options.limits.timeoutMs'],
      [{ limits: { memoryBytes: 5 * 1024 * MiB } }, 'options.limits.memoryBytes'],
      [{ limits: { memoryBytes: 1024 } }, 'options.limits.memoryBytes'],
      [{ limits: { stackBytes: 16 * MiB } }, 'options.limits.stackBytes'],
      [{ limits: { tableElements: 100_001 } }, 'options.limits.tableElements'],
      [{ limits: { fuel: 0 } }, 'options.limits.fuel'],
      [{ limits: { fuel: 1.5 } }, 'options.limits.fuel'],
      [{ limits: { memoryBytes: NaN } }, 'options.limits.memoryBytes'],
      [{ limits: { wallClock: 5 } }, 'options.limits.wallClock'],
      [{ capabilities: { network: true } }, 'options.capabilities.network'],
      [{ capabilities: { http: { allow: ['ftp://x'] } } }, 'capabilities.http.allow'],
      [{ capabilities: { http: {} } }, 'options.capabilities.http.allow'],
      [{ capabilities: { fs: { preopens: [{ hostPath: '/no/such/dir', guestPath: '/d' }] } } }, 'capabilities.fs.preopens'],
      [{ export: '' }, 'options.export'],
      [{ exprot: 'x' }, 'options.exprot'],
    ]
    for (const [options, name] of cases) {
      const e = await rejectsWith(rt.executeProbe(m, null, options), 'ERR_INVALID_ARG_VALUE')
      expect(e.message, JSON.stringify(options)).toContain(name)
    }
  })

  test('wrong types: ERR_INVALID_ARG_TYPE naming the argument', async () => {
    const m = await load(probeWat('(func (export "execute") (result i32) (i32.const 0))'))
    const cases = [
      [{ limits: { timeoutMs: '100' } }, 'options.limits.timeoutMs'],
      [{ limits: 5 }, 'options.limits'],
      [{ export: 5 }, 'options.export'],
      [{ signal: {} }, 'options.signal'],
      [{ onLog: 'no' }, 'options.onLog'],
      [{ capabilities: { args: [1] } }, 'options.capabilities.args'],
      [{ capabilities: { env: { A: 1 } } }, 'options.capabilities.env.A'],
      ['fast', 'options'],
    ]
    for (const [options, name] of cases) {
      const e = await rejectsWith(rt.executeProbe(m, null, options), 'ERR_INVALID_ARG_TYPE')
      expect(e.message).toContain(`"${name}"`)
    }
    await rejectsWith(rt.executeProbe(m, { big: 10n }), 'ERR_INVALID_ARG_VALUE')
    await rejectsWith(rt.executeProbe(m, () => 1), 'ERR_INVALID_ARG_TYPE')
  })

  test('something that is not a WasmModule of this runtime', async () => {
    await rejectsWith(rt.executeProbe({ kind: 'module' }), 'ERR_INVALID_ARG_TYPE')
    await rejectsWith(rt.executeProbe(undefined), 'ERR_INVALID_ARG_TYPE')
    const other = new WasmRuntime()
    const foreign = await other.loadModule(Buffer.from('(module (func (export "execute")))'))
    const e = await rejectsWith(rt.executeProbe(foreign), 'ERR_INVALID_ARG_TYPE')
    expect(e.message).toMatch(/another WasmRuntime/)
    await other.close()
  })

  test('bad runtime options throw from the constructor', () => {
    const codeOf = (fn) => {
      try {
        fn()
      } catch (e) {
        return [e.code, e.message]
      }
      return ['no error']
    }
    expect(codeOf(() => new WasmRuntime({ workerThreads: 0 }))).toEqual([
      'ERR_INVALID_ARG_VALUE',
      expect.stringContaining('workerThreads'),
    ])
    expect(codeOf(() => new WasmRuntime({ limits: { stackBytes: 1 } }))[1]).toContain('limits.stackBytes')
    expect(codeOf(() => new WasmRuntime({ limits: { memoryBytes: '1' } }))[0]).toBe('ERR_INVALID_ARG_TYPE')
    expect(codeOf(() => new WasmRuntime({ bogus: 1 }))[0]).toBe('ERR_INVALID_ARG_VALUE')
    expect(codeOf(() => new WasmRuntime(5))[0]).toBe('ERR_INVALID_ARG_TYPE')
  })
})
