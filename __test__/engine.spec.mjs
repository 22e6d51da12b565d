// The built-in JavaScript engine, first step (issue 27): QuickJS-ng built from a registry
// package's sources with the project's host layer (engine/quickjs-host.c), run as an ordinary
// core-module probe whose input is { source, input }. Real engine, real runtime, real limits.
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { WasmRuntime, rejectsWith, root } from './helpers.mjs'

const enginePath = join(root, 'build', 'engine', 'quickjs-ng.wasm')
let runtime
let engine

beforeAll(async () => {
  runtime = new WasmRuntime()
  engine = await runtime.loadModule(enginePath)
})
afterAll(() => runtime?.close())

const run = (source, input = null, options) => runtime.executeProbe(engine, { source, input }, options)

describe('JavaScript source on the built-in engine', () => {
  test('execute(input) returns the output; console calls are log records at their level', async () => {
    const r = await run('export function execute(i) { console.log("hello", i.name); console.warn("careful"); return { twice: i.n * 2 } }', { name: 'Ada', n: 21 })
    expect(r.success).toBe(true)
    expect(r.output).toEqual({ twice: 42 })
    expect(r.logs.map((l) => [l.level, l.message])).toEqual([
      ['info', 'hello Ada'],
      ['warn', 'careful'],
    ])
  })

  test('an async execute and top-level await settle before the result', async () => {
    const r = await run('const base = await Promise.resolve(10); export async function execute(i) { await null; return [1, 2, 3].map((x) => x * i + base) }', 2)
    expect(r.output).toEqual([12, 14, 16])
  })

  test('a throw and a rejection fail the probe with the message and the script position', async () => {
    const thrown = await run('export function execute() {\n  throw new Error("boom")\n}')
    expect(thrown.success).toBe(false)
    expect(thrown.error).toMatch(/^Error: boom\n {4}at execute \(probe\.js:2:/)
    const rejected = await run('export async function execute() { await null; throw new TypeError("late") }')
    expect(rejected.error).toMatch(/^TypeError: late/)
  })

  test('a syntax error names the line and column; a script without execute says so', async () => {
    const syntax = await run('export function execute() {\n  return {\n}')
    expect(syntax.success).toBe(false)
    expect(syntax.error).toMatch(/^SyntaxError: .*\n {4}at probe\.js:3:\d+/)
    const none = await run('export const answer = 42')
    expect(none.error).toBe('the script exports no function named execute')
  })

  test('a promise that can no longer settle ends at once, saying so', async () => {
    const r = await run('export function execute() { return new Promise(() => {}) }')
    expect(r.error).toMatch(/can no longer settle/)
    expect(r.latencyMs).toBeLessThan(1000)
  })

  test('a loop ends at the timeout, a heap bomb at the memory limit, and the runtime goes on', async () => {
    await rejectsWith(run('export function execute() { for (;;) {} }', null, { limits: { timeoutMs: 100 } }), 'ERR_WASM_TIMEOUT')
    const bomb = await run('export function execute() { const a = []; for (;;) a.push(new Array(1e5).fill(1)) }', null, { limits: { memoryBytes: 32 << 20 } })
    expect(bomb.success).toBe(false)
    expect(bomb.error).toMatch(/out of memory/)
    // Deep recursion does not crash the host (the goal, a catchable RangeError inside the script,
    // needs the engine's own stack guard on WASI: issue 27, step 5).
    await expect(run('function f(n) { return f(n + 1) + 1 } export function execute() { return f(0) }')).rejects.toThrow()
    expect((await run('export function execute() { return "still here" }')).output).toBe('still here')
  })

  test('each execution is a fresh engine: no state and no shared randomness between them', async () => {
    const leak = 'globalThis.count = (globalThis.count ?? 0) + 1; Object.prototype.polluted = true; export function execute() { return [count, Math.random()] }'
    const [a, b] = [await run(leak), await run(leak)]
    expect(a.output[0]).toBe(1)
    expect(b.output[0]).toBe(1)
    expect(a.output[1]).not.toBe(b.output[1])
    expect((await run('export function execute() { return ({}).polluted ?? "clean" }')).output).toBe('clean')
  })

  test('nothing of the host: no require, process, fetch or file access', async () => {
    const r = await run('export function execute() { return [typeof require, typeof process, typeof fetch, typeof std, typeof os] }')
    expect(r.output).toEqual(['undefined', 'undefined', 'undefined', 'undefined', 'undefined'])
  })
})
