// Precompiled artifacts: runtime.precompile and runtime.loadPrecompiled, and every way an
// artifact is refused instead of loaded.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { WasmRuntime, constantProbe, guest, rejectsWith } from './helpers.mjs'

const dir = mkdtempSync(join(tmpdir(), 'wasm-probe-precompiled-'))
const rt = new WasmRuntime()
afterAll(async () => {
  await rt.close()
  rmSync(dir, { recursive: true, force: true })
})

const PROBE = constantProbe('{"precompiled":true}')

describe('precompile and loadPrecompiled', () => {
  test('an artifact loads from bytes and from a file, as the same guest, optimized', async () => {
    const artifact = await rt.precompile(PROBE)
    expect(artifact).toBeInstanceOf(Uint8Array)
    const fromSource = await rt.loadModule(PROBE)
    const fromBytes = await rt.loadPrecompiled(artifact, { name: 'probe' })
    expect(fromBytes.tier).toBe('optimized')
    expect(fromBytes.name).toBe('probe')
    expect(fromBytes.kind).toBe('module')
    expect(fromBytes.hash).toBe(fromSource.hash)
    expect(fromBytes.size).toBe(fromSource.size)
    expect(fromBytes.exports).toEqual(fromSource.exports)
    expect((await rt.executeProbe(fromBytes)).output).toEqual({ precompiled: true })

    const file = join(dir, 'probe.cwasm')
    writeFileSync(file, artifact)
    const fromFile = await rt.loadPrecompiled(file)
    expect(fromFile.name).toBe('probe.cwasm')
    expect((await rt.executeProbe(fromFile)).output).toEqual({ precompiled: true })
    await fromFile.whenOptimized()
  })

  test('a component precompiles from a path and runs, also with another stack size', async () => {
    const artifact = await rt.precompile(guest('c/greet.wasm'))
    const small = new WasmRuntime({ limits: { stackBytes: 256 * 1024 } })
    try {
      const m = await small.loadPrecompiled(artifact)
      expect((await small.executeProbe(m, { name: 'Ada' })).output).toMatchObject({ greeting: 'hello, Ada' })
    } finally {
      await small.close()
    }
    const component = await rt.loadPrecompiled(await rt.precompile(guest('test-component/wasi.wasm')))
    expect(component.kind).toBe('component')
  })

  test('a damaged or truncated artifact is refused, never loaded', async () => {
    const artifact = await rt.precompile(PROBE)
    const flipped = Uint8Array.from(artifact)
    flipped[flipped.length >> 1] ^= 0xff
    let e = await rejectsWith(rt.loadPrecompiled(flipped), 'ERR_WASM_INVALID_MODULE')
    expect(e.message).toContain('damaged')
    const file = join(dir, 'flipped.cwasm')
    writeFileSync(file, flipped)
    e = await rejectsWith(rt.loadPrecompiled(file), 'ERR_WASM_INVALID_MODULE')
    expect(e.message).toContain('damaged')
    expect(e.message).toContain(file)
    const cut = Buffer.concat([artifact.subarray(0, 100), artifact.subarray(artifact.length - 96)])
    e = await rejectsWith(rt.loadPrecompiled(cut), 'ERR_WASM_INVALID_MODULE')
    expect(e.message).toContain('damaged')
    e = await rejectsWith(rt.loadPrecompiled(artifact.subarray(0, artifact.length - 1)), 'ERR_WASM_INVALID_MODULE')
    expect(e.message).toContain('not a wasm-probe precompiled artifact')
  })

  test('a WebAssembly binary or an empty file is not an artifact', async () => {
    let e = await rejectsWith(rt.loadPrecompiled(readFileSync(guest('c/greet.wasm'))), 'ERR_WASM_INVALID_MODULE')
    expect(e.message).toContain('not a wasm-probe precompiled artifact')
    e = await rejectsWith(rt.loadPrecompiled(new Uint8Array()), 'ERR_WASM_INVALID_MODULE')
    expect(e.message).toContain('not a wasm-probe precompiled artifact')
    e = await rejectsWith(rt.loadPrecompiled(join(dir, 'missing.cwasm')), 'ERR_WASM_INVALID_MODULE')
    expect(e.message).toContain('cannot read the precompiled artifact')
  })

  test('an artifact for another target is made, and refused here', async () => {
    const foreign = process.arch === 'arm64' ? 'x86_64-unknown-linux-gnu' : 'aarch64-unknown-linux-gnu'
    const artifact = await rt.precompile(PROBE, { target: foreign })
    const e = await rejectsWith(rt.loadPrecompiled(artifact), 'ERR_WASM_INVALID_MODULE')
    expect(e.message).toContain('another engine build, configuration or target')
    for (const windows of ['x86_64-pc-windows-msvc', 'aarch64-apple-darwin']) {
      expect((await rt.precompile(PROBE, { target: windows })).length).toBeGreaterThan(1000)
    }
  })

  test('bad arguments are refused naming them', async () => {
    let e = await rejectsWith(rt.precompile(PROBE, { target: 'sparc-sun-solaris' }), 'ERR_INVALID_ARG_VALUE')
    expect(e.message).toContain('options.target')
    e = await rejectsWith(rt.precompile(PROBE, { target: 'not a triple' }), 'ERR_INVALID_ARG_VALUE')
    expect(e.message).toContain('options.target')
    await rejectsWith(rt.precompile(PROBE, { target: 1 }), 'ERR_INVALID_ARG_TYPE')
    await rejectsWith(rt.precompile(PROBE, { bogus: 1 }), 'ERR_INVALID_ARG_VALUE')
    await rejectsWith(rt.precompile(5), 'ERR_INVALID_ARG_TYPE')
    await rejectsWith(rt.loadPrecompiled(5), 'ERR_INVALID_ARG_TYPE')
    e = await rejectsWith(rt.precompile('(module (func (result i32)))'), 'ERR_WASM_INVALID_MODULE')
    expect(e.message).toContain('type mismatch')
  })
})
