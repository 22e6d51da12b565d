// WASI capabilities: filesystem only through preopens (no escape, read-only enforced), env and
// args only as granted, stdin empty, direct path calls without a grant refused.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { WasmRuntime, guest, rejectsWith } from './helpers.mjs'

let dir
let rt
let m // the core module

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wasm-probe-wasi-'))
  mkdirSync(join(dir, 'data'))
  mkdirSync(join(dir, 'out'))
  writeFileSync(join(dir, 'data', 'hello.txt'), 'hello from the host')
  writeFileSync(join(dir, 'outside.txt'), 'a secret outside the preopen')
  symlinkSync(join(dir, 'outside.txt'), join(dir, 'data', 'abs-link'))
  symlinkSync('../outside.txt', join(dir, 'data', 'rel-link'))
  rt = new WasmRuntime()
  m = await rt.loadModule(guest('test-c/wasi.wasm'))
})

afterAll(async () => {
  await rt.close()
  rmSync(dir, { recursive: true, force: true })
})

const data = (readonly = true) => ({ capabilities: { fs: { preopens: [{ hostPath: join(dir, 'data'), guestPath: '/data', readonly }] } } })
const run = async (command, options) => (await rt.executeProbe(m, command, options)).output

const GUESTS = [
  ['core module (WASI p1)', 'test-c/wasi.wasm', 'written by the guest\n'],
  ['component (WASI 0.2 through the p1 adapter)', 'test-component/wasi.wasm', 'written by the component\n'],
]

describe.each(GUESTS)('filesystem and env: %s', (_, path, written) => {
  let g
  beforeAll(async () => {
    g = await rt.loadModule(guest(path))
  })
  const call = async (command, options) => (await rt.executeProbe(g, command, options)).output

  test('a preopened directory can be read; without a grant libc reports an errno', async () => {
    expect(await call('read:/data/hello.txt', data())).toEqual({ ok: true, content: 'hello from the host' })
    const r = await call('read:/data/hello.txt')
    expect(r).toMatchObject({ ok: false, what: 'open' })
    expect(r.errno).toBeGreaterThan(0)
  })

  test('no escape: .., absolute paths and symlinks that lead out all fail', async () => {
    for (const p of ['/data/../outside.txt', '/data/../../etc/hostname', '/etc/hostname', join(dir, 'outside.txt'), '/data/abs-link', '/data/rel-link']) {
      const r = await call(`read:${p}`, data())
      expect(r.ok, p).toBe(false)
      expect(r.content).toBeUndefined()
    }
  })

  test('read-only preopens refuse writes; writable ones accept them', async () => {
    expect((await call('write:/data/new.txt', data(true))).ok).toBe(false)
    expect(existsSync(join(dir, 'data', 'new.txt'))).toBe(false)
    expect((await call('write:/data/hello.txt', data(true))).ok).toBe(false)
    expect(readFileSync(join(dir, 'data', 'hello.txt'), 'utf8')).toBe('hello from the host')
    const out = { capabilities: { fs: { preopens: [{ hostPath: join(dir, 'out'), guestPath: '/out' }] } } }
    const name = `${path.replace(/\W/g, '-')}.txt`
    expect(await call(`write:/out/${name}`, out)).toEqual({ ok: true })
    expect(readFileSync(join(dir, 'out', name), 'utf8')).toBe(written)
  })

  test('env only as granted; the host environment is not visible', async () => {
    process.env.WASM_PROBE_HOST_SECRET = 'host-only'
    expect(await call('env:WASM_PROBE_HOST_SECRET')).toEqual({ value: null })
    expect(await call('env:PATH')).toEqual({ value: null })
    const granted = { capabilities: { env: { PROBE_MODE: 'test', EMPTY: '' } } }
    expect(await call('env:PROBE_MODE', granted)).toEqual({ value: 'test' })
    expect(await call('env:EMPTY', granted)).toEqual({ value: '' })
    expect(await call('env:WASM_PROBE_HOST_SECRET', granted)).toEqual({ value: null })
  })
})

describe('filesystem (core module, WASI p1)', () => {
  test('a direct path_open without a grant: ERR_WASM_CAPABILITY_DENIED', async () => {
    const e = await rejectsWith(rt.executeProbe(m, 'raw-open'), 'ERR_WASM_CAPABILITY_DENIED')
    expect(e.message).toMatch(/^Capability not granted: filesystem/)
    expect(e.message).toContain('path_open')
    // With a grant the same call is answered normally (the file is not in the preopen: ENOENT).
    const r = await run('raw-open', data())
    expect(r.errno).toBe(44)
  })
})

describe('arguments, random and stdin (core module)', () => {
  test('args only as granted', async () => {
    expect(await run('args')).toEqual({ args: [] })
    expect(await run('args', { capabilities: { args: ['probe', '--flag', 'ünï'] } })).toEqual({ args: ['probe', '--flag', 'ünï'] })
  })

  test('random is always there, and differs between executions', async () => {
    const a = await run('random')
    const b = await run('random')
    expect(a.hex).toMatch(/^[0-9a-f]{32}$/)
    expect(a.hex).not.toBe(b.hex)
  })

  test('stdin is empty', async () => {
    expect(await run('stdin')).toEqual({ read: 0 })
  })

  test('invalid grants are refused before running', async () => {
    await rejectsWith(rt.executeProbe(m, 'args', { capabilities: { env: { 'A=B': 'x' } } }), 'ERR_INVALID_ARG_VALUE')
    await rejectsWith(rt.executeProbe(m, 'args', { capabilities: { fs: { preopens: [{ hostPath: join(dir, 'data', 'hello.txt'), guestPath: '/f' }] } } }), 'ERR_INVALID_ARG_VALUE')
  })
})
