// Guests built from source by real toolchains: C with clang + wasi-libc, JavaScript with
// componentize-js (see scripts/build-guests.mjs).
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { WasmRuntime, guest, rejectsWith } from './helpers.mjs'

const rt = new WasmRuntime()
afterAll(() => rt.close())

describe('C guest (clang + wasi-libc, reactor)', () => {
  test('greets through the probe imports and libc stdout', async () => {
    const m = await rt.loadModule(guest('c/greet.wasm'))
    const r = await rt.executeProbe(m, { name: 'Ada' })
    expect(r.success).toBe(true)
    expect(r.output).toMatchObject({ greeting: 'hello, Ada', language: 'c' })
    expect(r.output.elapsedNs).toBeGreaterThan(0)
    expect(r.logs.map((l) => [l.source, l.level, l.message])).toEqual([
      ['stdout', 'info', 'greeting Ada from C'],
      ['guest', 'info', 'c probe done'],
    ])
  })

  test('falls back to its default when the input has no name', async () => {
    const m = await rt.loadModule(guest('c/greet.wasm'))
    // A JSON string is a document without "/name": json_get answers absent (-1).
    expect((await rt.executeProbe(m, 'plain')).output.greeting).toBe('hello, world')
  })

  test('without an fs grant, fopen fails with an errno the guest handles', async () => {
    const m = await rt.loadModule(guest('test-c/wasi.wasm'))
    const r = await rt.executeProbe(m, 'read:/etc/hostname')
    expect(r.success).toBe(true)
    expect(r.output).toMatchObject({ ok: false, what: 'open' })
    expect(r.output.errno).toBeGreaterThan(0)
  })
})

describe('JavaScript guest (componentize-js component of the probe world)', () => {
  let m
  beforeAll(async () => {
    m = await rt.loadModule(guest('js/greet.wasm'))
  })

  test('instantiates (it imports wasi:http and wasi:io it never uses) and runs', async () => {
    const r = await rt.executeProbe(m, { name: 'Grace' })
    expect(r.success).toBe(true)
    expect(r.output).toMatchObject({ greeting: 'hello, Grace', language: 'javascript' })
    expect(r.logs.map((l) => [l.source, l.message])).toEqual([
      ['guest', 'js probe greeting "Grace"'],
      ['stdout', 'greeting Grace from JavaScript'],
    ])
    expect(r.metrics.memoryPeakBytes).toBeGreaterThan(1024 * 1024)
    expect(r.metrics.hostCalls).toBeGreaterThanOrEqual(4)
  })

  test('err(message) resolves with success false', async () => {
    const r = await rt.executeProbe(m, { other: 1 })
    expect(r).toMatchObject({ success: false, error: 'input has no "name"' })
  })

  test('an export that does not exist', async () => {
    const e = await rejectsWith(rt.executeProbe(m, {}, { export: 'nope' }), 'ERR_WASM_NO_EXPORT')
    expect(e.message).toMatch(/its exports: execute/)
  })

  test('limits apply to components: memory below its initial size cannot start', async () => {
    const e = await rejectsWith(rt.executeProbe(m, { name: 'x' }, { limits: { memoryBytes: 1024 * 1024 } }), 'ERR_WASM_MEMORY_LIMIT')
    expect(e.message).toMatch(/limits\.memoryBytes/)
    await rejectsWith(rt.executeProbe(m, { name: 'x' }, { limits: { fuel: 1000 } }), 'ERR_WASM_FUEL_EXHAUSTED')
  })

  test('a component runs with another stack size too', async () => {
    const r = await rt.executeProbe(m, { name: 'deep' }, { limits: { stackBytes: 4 * 1024 * 1024 } })
    expect(r.output.greeting).toBe('hello, deep')
  })
})
