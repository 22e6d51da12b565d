import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { afterAll, describe, expect, test } from 'vitest'
import { WasmModule, WasmRuntime, constantProbe, guest, probeWat, rejectsWith, watGuest } from './helpers.mjs'

const rt = new WasmRuntime()
afterAll(() => rt.close())

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex')

describe('loadModule', () => {
  test('loads WAT bytes and describes the module', async () => {
    const text = constantProbe('{"ok":true}')
    const m = await rt.loadModule(Buffer.from(text), { name: 'constant' })
    expect(m).toBeInstanceOf(WasmModule)
    expect(m.kind).toBe('module')
    expect(m.name).toBe('constant')
    expect(m.size).toBe(Buffer.byteLength(text))
    expect(m.hash).toBe(sha256(Buffer.from(text)))
    expect(m.exports).toEqual(['memory', 'execute'])
    expect(m.imports).toContain('probe::output_write')
    expect(m.imports).toContain('probe::monotonic_ns')
  })

  test('loads a .wat file by path, named after the file', async () => {
    const m = await rt.loadModule(watGuest('loop.wat'))
    expect(m.name).toBe('loop.wat')
    expect(m.kind).toBe('module')
    expect(m.hash).toBe(sha256(readFileSync(watGuest('loop.wat'))))
  })

  test('loads a binary .wasm by path, from bytes and from an ArrayBuffer', async () => {
    const path = guest('c/greet.wasm')
    const bytes = readFileSync(path)
    const byPath = await rt.loadModule(path)
    const byBytes = await rt.loadModule(new Uint8Array(bytes))
    const byBuffer = await rt.loadModule(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length))
    expect(byPath.name).toBe('greet.wasm')
    expect(byBytes.name).toBe('module')
    for (const m of [byPath, byBytes, byBuffer]) {
      expect(m.size).toBe(bytes.length)
      expect(m.hash).toBe(sha256(bytes))
      expect(m.exports).toContain('_initialize')
      expect(m.imports).toContain('wasi_snapshot_preview1::fd_write')
    }
  })

  test('WAT text passed as a string is accepted', async () => {
    const m = await rt.loadModule('(module (func (export "execute")))')
    expect(m.exports).toEqual(['execute'])
  })

  test('recognises a component', async () => {
    const m = await rt.loadModule(guest('js/greet.wasm'))
    expect(m.kind).toBe('component')
    expect(m.exports).toEqual(['execute'])
    expect(m.imports).toContain('probe:runtime/log@0.1.0')
    expect(m.imports.some((i) => i.startsWith('wasi:http/types@'))).toBe(true)
  })

  test('compiles off the JS thread: timers keep firing while a large component compiles', async () => {
    // A fresh runtime has no compiled copy of this component yet only if its bytes differ, so
    // append a custom section to force a real compilation.
    const bytes = readFileSync(guest('js/greet.wasm'))
    const custom = Buffer.concat([bytes, Buffer.from([0, 6, 5, 0x6e, 0x6f, 0x6e, 0x63, 0x65])])
    let ticks = 0
    const timer = setInterval(() => ticks++, 5)
    const m = await rt.loadModule(custom)
    clearInterval(timer)
    expect(m.kind).toBe('component')
    expect(ticks).toBeGreaterThan(5)
  })

  test('loading the same bytes twice reuses the compiled code', async () => {
    const text = Buffer.from(constantProbe('{"again":1}'))
    const before = rt.stats()
    await rt.loadModule(text)
    await rt.loadModule(text)
    const after = rt.stats()
    expect(after.cacheMisses - before.cacheMisses).toBe(1)
    expect(after.cacheHits - before.cacheHits).toBe(1)
  })
})

describe('loadModule rejects what cannot run', () => {
  test('malformed binary: the validator message and byte offset', async () => {
    // A valid header, then a type section whose declared size runs past the end.
    const bytes = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 0x7f, 0x01])
    const e = await rejectsWith(rt.loadModule(bytes), 'ERR_WASM_INVALID_MODULE')
    expect(e.message).toMatch(/offset/)
  })

  test('truncated binary', async () => {
    const full = readFileSync(guest('c/greet.wasm'))
    const e = await rejectsWith(rt.loadModule(full.subarray(0, full.length / 2)), 'ERR_WASM_INVALID_MODULE')
    expect(e.message).toMatch(/offset|end/)
    const header = await rejectsWith(rt.loadModule(full.subarray(0, 6)), 'ERR_WASM_INVALID_MODULE')
    expect(header.message).toMatch(/truncated/)
  })

  test('garbage and bad WAT', async () => {
    const bin = await rejectsWith(rt.loadModule(new Uint8Array([0xff, 0xfe, 0x00, 0x01])), 'ERR_WASM_INVALID_MODULE')
    expect(bin.message).toMatch(/neither a WebAssembly binary/)
    const wat = await rejectsWith(rt.loadModule(Buffer.from('(module (func (export "x") (i32.add)))')), 'ERR_WASM_INVALID_MODULE')
    expect(wat.message).toMatch(/type mismatch|expected/)
    const syntax = await rejectsWith(rt.loadModule(Buffer.from('(module (fnuc))')), 'ERR_WASM_INVALID_MODULE')
    expect(syntax.message).toMatch(/invalid WAT text/)
  })

  test('unknown wasm version', async () => {
    const e = await rejectsWith(rt.loadModule(new Uint8Array([0, 0x61, 0x73, 0x6d, 2, 0, 0, 0])), 'ERR_WASM_INVALID_MODULE')
    expect(e.message).toMatch(/version/)
  })

  test('a file that cannot be read', async () => {
    const e = await rejectsWith(rt.loadModule('/nonexistent/probe.wasm'), 'ERR_WASM_INVALID_MODULE')
    expect(e.message).toMatch(/cannot read the guest \/nonexistent\/probe.wasm: /)
  })

  test('an import the runtime does not provide is named', async () => {
    const text = '(module (import "env" "secret_syscall" (func (param i32))) (func (export "execute")))'
    const e = await rejectsWith(rt.loadModule(Buffer.from(text)), 'ERR_WASM_LINK')
    expect(e.message).toContain('env::secret_syscall')
  })

  test('a probe import with the wrong signature is named', async () => {
    const text = '(module (import "probe" "input_len" (func (param i32))) (func (export "execute")))'
    const e = await rejectsWith(rt.loadModule(Buffer.from(text)), 'ERR_WASM_LINK')
    expect(e.message).toContain('probe::input_len')
  })

  test('bad arguments', async () => {
    await rejectsWith(rt.loadModule(42), 'ERR_INVALID_ARG_TYPE')
    await rejectsWith(rt.loadModule(null), 'ERR_INVALID_ARG_TYPE')
    await rejectsWith(rt.loadModule(''), 'ERR_INVALID_ARG_VALUE')
    await rejectsWith(rt.loadModule(Buffer.from(probeWat('')), { name: 7 }), 'ERR_INVALID_ARG_TYPE')
    await rejectsWith(rt.loadModule(Buffer.from(probeWat('')), { nmae: 'typo' }), 'ERR_INVALID_ARG_VALUE')
  })
})
