// Tiered compilation: baseline (Winch) code first, optimized (Cranelift) code in the background,
// the fallback where Winch cannot compile a guest, and which tier the disk cache hands a new process.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, test } from 'vitest'
import { WasmRuntime, constantProbe, guest, rejectsWith, root } from './helpers.mjs'

const dir = mkdtempSync(join(tmpdir(), 'wasm-probe-tiers-'))
const runtimes = []
afterAll(async () => {
  await Promise.all(runtimes.map((rt) => rt.close()))
  rmSync(dir, { recursive: true, force: true })
})
afterEach(() => {
  delete process.env.WASM_PROBE_TIERING_MIN_BYTES
  delete process.env.WASM_PROBE_COMPILE_IN_PROCESS
})
const runtime = (options) => {
  const rt = new WasmRuntime(options)
  runtimes.push(rt)
  return rt
}

// A guest that takes a tail call: Winch does not implement the tail-call proposal.
const TAIL_CALL = `(module
  (import "probe" "output_write" (func $out (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "42")
  (func $write (result i32) (call $out (i32.const 0) (i32.const 2)) (i32.const 0))
  (func (export "execute") (result i32) (return_call $write)))`

/** `bytes` with a custom section appended: the same guest, but an input of its own, so no other
 *  test's compiled code is shared with it. */
function distinct(bytes, tag) {
  const name = Buffer.from(tag)
  const payload = Buffer.concat([Buffer.from([name.length]), name])
  return Buffer.concat([bytes, Buffer.from([0, payload.length]), payload])
}

describe('compiler option', () => {
  test('is checked: a wrong type or an unknown compiler is refused naming the option', () => {
    const codeOf = (options) => {
      try {
        new WasmRuntime(options)
      } catch (e) {
        return [e.code, e.message]
      }
    }
    expect(codeOf({ compiler: 1 })[0]).toBe('ERR_INVALID_ARG_TYPE')
    const [code, message] = codeOf({ compiler: 'fast' })
    expect(code).toBe('ERR_INVALID_ARG_VALUE')
    expect(message).toContain('options.compiler')
    expect(message).toContain("'baseline'")
  })

  test("'optimizing' gives optimized code, and whenOptimized resolves at once", async () => {
    const rt = runtime({ compiler: 'optimizing' })
    const m = await rt.loadModule(constantProbe('{"tier":1}'))
    expect(m.tier).toBe('optimized')
    await m.whenOptimized()
    expect((await rt.executeProbe(m)).output).toEqual({ tier: 1 })
  })

  test("'baseline' gives baseline code that stays so; whenOptimized rejects saying why", async () => {
    const rt = runtime({ compiler: 'baseline' })
    const m = await rt.loadModule(constantProbe('{"tier":2}'))
    expect(m.tier).toBe('baseline')
    expect((await rt.executeProbe(m)).output).toEqual({ tier: 2 })
    const e = await rejectsWith(m.whenOptimized(), 'ERR_WASM_HOST')
    expect(e.message).toContain("'baseline'")
    expect(m.tier).toBe('baseline')
  })

  test("'auto' compiles a small guest optimized at once: Winch would not pay off", async () => {
    const rt = runtime()
    const m = await rt.loadModule(constantProbe('{"tier":3}'))
    expect(m.tier).toBe('optimized')
  })

  test('a guest Winch cannot compile (tail calls) falls back to Cranelift and says so', async () => {
    const rt = runtime({ compiler: 'baseline' })
    const m = await rt.loadModule(TAIL_CALL)
    expect(m.tier).toBe('optimized')
    expect(m.tierFallback).toMatch(/tail call/i)
    expect((await rt.executeProbe(m)).output).toBe(42)
  })

  test('an invalid guest is one ERR_WASM_INVALID_MODULE on every compiler, not a fallback', async () => {
    for (const compiler of ['auto', 'baseline', 'optimizing']) {
      const rt = runtime({ compiler })
      const e = await rejectsWith(rt.loadModule('(module (func (result i32)))'), 'ERR_WASM_INVALID_MODULE')
      expect(e.message).toContain('type mismatch')
    }
  })
})

describe('tier-up', () => {
  for (const where of ['a compile worker process', 'this process']) {
    test(`a large guest starts on baseline code and moves to optimized code built in ${where}`, async () => {
      // Every guest counts as large here, so the small C guest takes the path a 12 MB one takes.
      process.env.WASM_PROBE_TIERING_MIN_BYTES = '0'
      if (where === 'this process') process.env.WASM_PROBE_COMPILE_IN_PROCESS = '1'
      const rt = runtime()
      const m = await rt.loadModule(distinct(readFileSync(guest('c/greet.wasm')), where))
      expect(m.tier).toBe('baseline')
      const early = await rt.instantiate(m)
      const before = await rt.executeProbe(m, { name: 'Ada' })
      await m.whenOptimized()
      expect(m.tier).toBe('optimized')
      const after = await rt.executeProbe(m, { name: 'Ada' })
      const greeting = { greeting: 'hello, Ada', language: 'c' }
      expect(before.output).toMatchObject(greeting)
      expect(after.output).toMatchObject(greeting)
      // An instance created on baseline code keeps it and keeps answering.
      expect((await early.call('execute', { name: 'Ada' })).output).toMatchObject(greeting)
      await early.dispose()
    })
  }

  test('the 12 MB componentize-js guest starts on baseline code and answers', async () => {
    const rt = runtime()
    const m = await rt.loadModule(guest('js/greet.wasm'))
    expect(m.tier).toBe('baseline')
    const r = await rt.executeProbe(m, { name: 'Winch' })
    expect(r.output).toMatchObject({ greeting: 'hello, Winch', language: 'javascript' })
  })
})

/** Loads `path` in a fresh Node process with `cacheDir`; reports its tier and stats. */
function freshProcess(path, { waitOptimized = false, cacheDir = dir } = {}) {
  const script = `
    const { WasmRuntime } = require(${JSON.stringify(join(root, 'index.js'))})
    ;(async () => {
      const rt = new WasmRuntime({ cacheDir: ${JSON.stringify(cacheDir)} })
      const m = await rt.loadModule(${JSON.stringify(path)})
      const tier = m.tier
      if (${waitOptimized}) await m.whenOptimized()
      const r = await rt.executeProbe(m, { name: 'cache' })
      console.log(JSON.stringify({ tier, stats: rt.stats(), output: r.output }))
      await rt.close()
    })()`
  const env = { ...process.env, WASM_PROBE_TIERING_MIN_BYTES: '0' }
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 120_000, env })
  expect(r.stderr).toBe('')
  expect(r.status).toBe(0)
  return JSON.parse(r.stdout)
}

describe('disk cache and tiers', () => {
  test('a process that exits before the tier-up leaves its baseline entry, and the next starts on it', () => {
    const path = guest('c/http-check.wasm')
    const first = freshProcess(path)
    expect(first.tier).toBe('baseline')
    const second = freshProcess(path)
    expect(second.tier).toBe('baseline')
    expect(second.stats).toMatchObject({ cacheHits: 1, cacheMisses: 0 })
  })

  test('the cache keeps optimized code once it exists, so the next process starts on it', () => {
    const path = guest('c/greet.wasm')
    const cacheDir = join(dir, 'optimized')
    const first = freshProcess(path, { waitOptimized: true, cacheDir })
    expect(first.tier).toBe('baseline')
    const names = readdirSync(cacheDir).filter((f) => f.endsWith('.cwasm'))
    // The optimized entry replaced the baseline one.
    expect(names.some((f) => f.includes('-optimized-'))).toBe(true)
    expect(names.some((f) => f.includes('-baseline-'))).toBe(false)
    const second = freshProcess(path, { cacheDir })
    expect(second.tier).toBe('optimized')
    expect(second.stats).toMatchObject({ cacheHits: 1, cacheMisses: 0 })
    expect(first.output).toMatchObject({ greeting: 'hello, cache', language: 'c' })
    expect(second.output).toMatchObject({ greeting: 'hello, cache', language: 'c' })
  })
})
