// Capacity (contract §4c): long-lived instances never starve executions, maxInstances and
// maxQueued refuse at once with ERR_WASM_BUSY, every wait of an instantiate is bounded, close()
// does not wait on instantiates, the runtime-wide memory budget, the open-file cap, stats().
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { WasmRuntime, constantProbe, guest, probeWat, rejectsWith } from './helpers.mjs'

const MIB = 1024 * 1024
const PAGE = 65536

// Keeps a global between calls; "spin" never ends (until stopped).
const COUNTER = probeWat(`(global $n (mut i32) (i32.const 0))
  (func (export "bump") (result i32)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (i32.store8 (i32.const 0) (i32.add (i32.const 48) (i32.rem_u (global.get $n) (i32.const 10))))
    (call $output_write (i32.const 0) (i32.const 1))
    (i32.const 0))
  (func (export "spin") (loop $l (br $l)))
  (func (export "execute") (result i32) (loop $l (br $l)) (i32.const 0))`)

// Grows its memory by `pages` pages and traps when refused.
const grower = (pages) =>
  probeWat(`(func (export "execute") (result i32)
    (if (i32.eq (memory.grow (i32.const ${pages})) (i32.const -1)) (then unreachable))
    (i32.const 0))`)

const rt = new WasmRuntime()
afterAll(() => rt.close())

/** The error a promise rejects with (a handler is attached at once, so none goes unhandled). */
const failure = (promise) => promise.then(() => undefined, (e) => e)

async function until(condition, what) {
  for (let i = 0; i < 1000; i++) {
    if (condition()) return
    await new Promise((r) => setTimeout(r, 5))
  }
  throw new Error(`timed out waiting for ${what}`)
}

describe('long-lived instances and executions', () => {
  test('500 live instances leave executeProbe served; 1000 concurrent executions complete', async () => {
    const counter = await rt.loadModule(Buffer.from(COUNTER))
    const quick = await rt.loadModule(Buffer.from(constantProbe('{"ok":true}')))
    const instances = await Promise.all(Array.from({ length: 500 }, () => rt.instantiate(counter)))
    expect(rt.stats().instances).toBe(500)
    // Every instance holds its one page of linear memory.
    expect(rt.stats().memoryBytes).toBe(500 * PAGE)
    expect((await rt.executeProbe(quick)).output).toEqual({ ok: true })
    const burst = await Promise.all(Array.from({ length: 1000 }, () => rt.executeProbe(quick)))
    expect(burst.every((r) => r.success && r.output.ok)).toBe(true)
    // The instances still answer, with their own state.
    const calls = await Promise.all(instances.slice(0, 50).map((i) => i.call('bump')))
    expect(calls.every((r) => r.output === 1)).toBe(true)
    await Promise.all(instances.map((i) => i.dispose()))
    expect(rt.stats().instances).toBe(0)
    expect(rt.stats().memoryBytes).toBe(0)
  })

  test('maxInstances: one more rejects ERR_WASM_BUSY at once; a disposed one frees its place', async () => {
    const small = new WasmRuntime({ maxInstances: 2 })
    try {
      const m = await small.loadModule(Buffer.from(COUNTER))
      const a = await small.instantiate(m)
      await small.instantiate(m)
      const e = await rejectsWith(small.instantiate(m), 'ERR_WASM_BUSY')
      expect(e.message).toMatch(/2 live instances \(maxInstances = 2\)/)
      expect(small.stats().instances).toBe(2)
      await a.dispose()
      expect(small.stats().instances).toBe(1)
      await small.instantiate(m)
      expect(small.stats().instances).toBe(2)
    } finally {
      await small.close()
    }
    expect(small.stats().instances).toBe(0)
  })

  test('maxQueued bounds calls waiting on an instance; stats() counts them', async () => {
    const small = new WasmRuntime({ maxQueued: 3 })
    try {
      const m = await small.loadModule(Buffer.from(COUNTER))
      const instance = await small.instantiate(m)
      const controller = new AbortController()
      const running = instance.call('spin', null, { signal: controller.signal })
      await until(() => instance.state === 'busy', 'the first call to start')
      const waiting = [1, 2, 3].map(() => instance.call('bump'))
      expect(small.stats().queued).toBe(3)
      expect(small.stats().active).toBe(1)
      const e = await rejectsWith(instance.call('bump'), 'ERR_WASM_BUSY')
      expect(e.message).toMatch(/3 executions are already waiting to start \(maxQueued = 3\); nothing ran/)
      controller.abort()
      await rejectsWith(running, 'ERR_WASM_CANCELLED')
      // The cancelled call restarted the instance; the queued ones then ran in order.
      expect((await Promise.all(waiting)).map((r) => r.output)).toEqual([1, 2, 3])
      expect(small.stats().queued).toBe(0)
    } finally {
      await small.close()
    }
  })

  test('maxQueued bounds executions waiting for a store; nothing of the refused one runs', async () => {
    const small = new WasmRuntime({ maxQueued: 5 })
    try {
      const spin = await small.loadModule(Buffer.from(COUNTER))
      const quick = await small.loadModule(Buffer.from(constantProbe('1')))
      const controller = new AbortController()
      const opts = { signal: controller.signal }
      // Short executions share a pool of 64 stores per process, 48 of them open to one runtime:
      // fill its share, then queue behind it.
      const running = Array.from({ length: 48 }, () => failure(small.executeProbe(spin, null, opts)))
      await until(() => small.stats().active === 48, '48 executions to run')
      const queued = Array.from({ length: 5 }, () => small.executeProbe(quick))
      expect(small.stats().queued).toBe(5)
      const before = small.stats().executions
      await rejectsWith(small.executeProbe(quick), 'ERR_WASM_BUSY')
      expect(small.stats().executions).toBe(before)
      controller.abort()
      expect(new Set((await Promise.all(running)).map((e) => e.code))).toEqual(new Set(['ERR_WASM_CANCELLED']))
      expect((await Promise.all(queued)).map((r) => r.output)).toEqual([1, 1, 1, 1, 1])
    } finally {
      await small.close()
    }
  })
})

describe('instantiate waits are bounded', () => {
  // A start function that never returns: the instance can never be ready.
  const stuck = probeWat(`(func $init (loop $l (br $l))) (start $init)
    (func (export "execute") (result i32) (i32.const 0))`)

  test('an instantiate that cannot get ready rejects with its activation timeout', async () => {
    const m = await rt.loadModule(Buffer.from(stuck))
    const e = await rejectsWith(rt.instantiate(m, { timeouts: { activation: 150 } }), 'ERR_WASM_TIMEOUT')
    expect(e.message).toBe('the instance did not start within its activation timeout of 150 ms (timeouts.activation)')
    expect(rt.stats().instances).toBe(0)
  })

  test('aborting its signal stops an instantiate under way', async () => {
    const m = await rt.loadModule(Buffer.from(stuck))
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 50)
    const e = await rejectsWith(rt.instantiate(m, { signal: controller.signal }), 'ERR_WASM_CANCELLED')
    expect(e.message).toBe('the instantiation was cancelled by its AbortSignal')
    expect(rt.stats()).toMatchObject({ instances: 0, active: 0 })
  })

  test('close() does not wait on instantiates; they reject ERR_WASM_CLOSED', async () => {
    const closing = new WasmRuntime()
    const m = await closing.loadModule(Buffer.from(stuck))
    // An activation budget longer than this test's timeout: only close() can settle them.
    const pending = Array.from({ length: 20 }, () => failure(closing.instantiate(m, { timeouts: { activation: 120_000 } })))
    await until(() => closing.stats().active === 20, 'the instantiates to start')
    await closing.close()
    expect(new Set((await Promise.all(pending)).map((e) => e.code))).toEqual(new Set(['ERR_WASM_CLOSED']))
    expect(closing.stats().instances).toBe(0)
    await rejectsWith(closing.instantiate(m), 'ERR_WASM_CLOSED')
  }, 20_000)
})

describe('the runtime-wide memory budget', () => {
  test('growth past maxTotalMemoryBytes is refused across instances, and given back on dispose', async () => {
    const budget = new WasmRuntime({ maxTotalMemoryBytes: 3 * MIB })
    try {
      // An instance holding 2 MiB (32 pages after its first call's growth).
      const holder = await budget.instantiate(await budget.loadModule(Buffer.from(grower(31))))
      await holder.call('execute')
      expect(budget.stats().memoryBytes).toBe(2 * MIB)
      const big = await budget.loadModule(Buffer.from(grower(31)))
      const e = await rejectsWith(budget.executeProbe(big), 'ERR_WASM_MEMORY_LIMIT')
      expect(e.message).toMatch(/would bring this runtime's guests to 4194304 bytes together, above maxTotalMemoryBytes = 3145728/)
      expect(e.message).toMatch(/the guest then failed: wasm trap: wasm `unreachable` instruction executed/)
      expect(e.message).not.toMatch(/wasm trap: wasm trap/)
      // A small growth still fits; the refused one left nothing behind.
      expect((await budget.executeProbe(await budget.loadModule(Buffer.from(grower(1))))).success).toBe(true)
      expect(budget.stats().memoryBytes).toBe(2 * MIB)
      await holder.dispose()
      expect(budget.stats().memoryBytes).toBe(0)
      expect((await budget.executeProbe(big)).success).toBe(true)
    } finally {
      await budget.close()
    }
  })

  test('an instance whose initial memory does not fit fails to start with ERR_WASM_MEMORY_LIMIT', async () => {
    const budget = new WasmRuntime({ maxTotalMemoryBytes: MIB })
    try {
      const m = await budget.loadModule(Buffer.from(probeWat('(func (export "execute") (result i32) (i32.const 0))', { pages: 32 })))
      const e = await rejectsWith(budget.instantiate(m), 'ERR_WASM_MEMORY_LIMIT')
      expect(e.message).toMatch(/maxTotalMemoryBytes = 1048576/)
      expect(budget.stats()).toMatchObject({ instances: 0, memoryBytes: 0 })
    } finally {
      await budget.close()
    }
  })

  test('capacity options are checked by name', () => {
    expect(() => new WasmRuntime({ maxQueued: -1 })).toThrow(/options\.maxQueued.*whole number from 0/)
    expect(() => new WasmRuntime({ maxInstances: 1.5 })).toThrow(/options\.maxInstances/)
    expect(() => new WasmRuntime({ maxTotalMemoryBytes: 1000 })).toThrow(/options\.maxTotalMemoryBytes.*from 65536/)
    expect(() => new WasmRuntime({ maxQueued: '5' })).toThrow(/options\.maxQueued/)
  })
})

describe('memory accounting', () => {
  test('a memory64 guest asking for nearly 2^64 bytes cannot wrap the count and slip past its limit', async () => {
    const m = await rt.loadModule(`(module
      (memory (export "memory") 1)
      (memory $big i64 1)
      (func (export "execute") (result i32)
        (if (i64.ne (memory.grow $big (i64.const 0xffffffffffff)) (i64.const -1)) (then unreachable))
        ;; 20 more pages of the first memory would be 1.3 MiB: above the 1 MiB limit.
        (if (i32.ne (memory.grow 0 (i32.const 20)) (i32.const -1)) (then unreachable))
        (i32.const 0)))`)
    const r = await rt.executeProbe(m, null, { limits: { memoryBytes: 1024 * 1024 } })
    expect(r.success).toBe(true)
    expect(rt.stats().memoryBytes).toBe(0)
  })

  test("growth past a memory's own declared maximum is not counted", async () => {
    const holder = await rt.instantiate(await rt.loadModule(`(module (memory (export "memory") 1 1)
      (func (export "execute") (result i32)
        (if (i32.ne (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable))
        (i32.const 0)))`))
    for (let i = 0; i < 20; i++) await holder.call('execute')
    expect(rt.stats().memoryBytes).toBe(PAGE)
    await holder.dispose()
  })

  test('close() disposes live instances before it returns: nothing is left counted', async () => {
    const closing = new WasmRuntime()
    const m = await closing.loadModule(Buffer.from(COUNTER))
    const instances = await Promise.all([1, 2, 3].map(() => closing.instantiate(m)))
    expect(closing.stats()).toMatchObject({ instances: 3, memoryBytes: 3 * PAGE })
    await closing.close()
    expect(closing.stats()).toMatchObject({ instances: 0, memoryBytes: 0, active: 0, queued: 0 })
    expect(instances.map((i) => i.state)).toEqual(['disposed', 'disposed', 'disposed'])
    await rejectsWith(instances[0].call('bump'), 'ERR_WASM_CLOSED')
  })
})

describe('the open-file cap', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wasm-probe-files-'))
  mkdirSync(join(dir, 'data'))
  writeFileSync(join(dir, 'data', 'f.txt'), 'x')
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const grant = { fs: { preopens: [{ hostPath: join(dir, 'data'), guestPath: '/data' }] } }

  // The preopened directory is one of the open descriptors.
  test.each([
    ['core module (WASI p1): EMFILE', 'test-c/wasi.wasm', 33],
    ['component (WASI p2): insufficient-memory, ENOMEM in libc', 'test-component/wasi.wasm', 48],
  ])('%s; the guest carries on', async (_name, file, errno) => {
    const m = await rt.loadModule(guest(file))
    const capped = await rt.executeProbe(m, 'hold:/data/f.txt', { capabilities: grant, limits: { openFiles: 10 } })
    expect(capped.output).toEqual({ opened: 9, errno, reopened: true })
    const defaults = await rt.executeProbe(m, 'hold:/data/f.txt', { capabilities: grant })
    expect(defaults.output).toEqual({ opened: 99, errno, reopened: true })
    await rejectsWith(rt.executeProbe(m, 'x', { limits: { openFiles: -1 } }), 'ERR_INVALID_ARG_VALUE')
  })
})

test('a trap message says "wasm trap:" once', async () => {
  const m = await rt.loadModule(Buffer.from(probeWat(`(func (export "execute") (result i32)
    (drop (i32.div_u (i32.const 1) (i32.const 0))) (i32.const 0))`)))
  const e = await rejectsWith(rt.executeProbe(m), 'ERR_WASM_TRAP')
  expect(e.message.split('\n')[0]).toBe('wasm trap: integer divide by zero')
})
