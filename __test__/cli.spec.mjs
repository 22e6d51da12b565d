// The wasm-probe command line, end to end, as a user runs it.
import { execFile } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { guest, root, watGuest } from './helpers.mjs'

const cli = join(root, 'bin', 'wasm-probe.js')
const wasmProbe = (...args) =>
  new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? error.code : 0, stdout, stderr })
    })
  })

let server
let origin
let dir
beforeAll(async () => {
  server = createServer((req, res) => res.end('ok'))
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  origin = `http://127.0.0.1:${server.address().port}`
  dir = mkdtempSync(join(tmpdir(), 'wasm-probe-cli-'))
  mkdirSync(join(dir, 'data'))
  writeFileSync(join(dir, 'data', 'hello.txt'), 'from the cli')
})
afterAll(async () => {
  await new Promise((r) => server.close(r))
  rmSync(dir, { recursive: true, force: true })
})

describe('wasm-probe run', () => {
  test('prints the output, the logs live, and the metrics; exit 0', async () => {
    const r = await wasmProbe('run', join(root, 'examples', 'guests', 'wat', 'word-count.wat'), '--input', '{"text":"one two three"}')
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({ words: 3 })
    expect(r.stderr).toMatch(/\[guest\/info\] counted words/)
    expect(r.stderr).toMatch(/latency [\d.]+ ms, instantiate \d+ µs, run \d+ µs, fuel \d+/)
  })

  test('--json prints one JSON result', async () => {
    const r = await wasmProbe('run', guest('c/greet.wasm'), '--input', '{"name":"CLI"}', '--json')
    expect(r.code).toBe(0)
    const result = JSON.parse(r.stdout)
    expect(result).toMatchObject({ success: true, output: { greeting: 'hello, CLI' } })
    expect(result.logs.map((l) => l.source)).toEqual(['stdout', 'guest'])
  })

  test('a guest failure exits 1; a runtime error exits 2 with its code', async () => {
    const failed = await wasmProbe('run', guest('js/greet.wasm'), '--input', '{}')
    expect(failed.code).toBe(1)
    expect(failed.stdout).toMatch(/guest failure: input has no "name"/)
    const stopped = await wasmProbe('run', watGuest('loop.wat'), '--timeout', '100')
    expect(stopped.code).toBe(2)
    expect(stopped.stderr).toMatch(/^ERR_WASM_TIMEOUT: /m)
    const fuel = await wasmProbe('run', watGuest('loop.wat'), '--fuel', '1000', '--json')
    expect(fuel.code).toBe(2)
    expect(JSON.parse(fuel.stdout).code).toBe('ERR_WASM_FUEL_EXHAUSTED')
    const memory = await wasmProbe('run', watGuest('membomb.wat'), '--memory', '2')
    expect(memory.stderr).toMatch(/^ERR_WASM_MEMORY_LIMIT: .*2097152/m)
  })

  test('capabilities: --allow-http, --preopen, --env', async () => {
    const denied = await wasmProbe('run', guest('c/http-check.wasm'), '--input', JSON.stringify({ url: `${origin}/` }))
    expect(denied.code).toBe(1)
    expect(denied.stdout).toMatch(/Capability not granted: http/)
    const allowed = await wasmProbe('run', guest('c/http-check.wasm'), '--input', JSON.stringify({ url: `${origin}/` }), '--allow-http', origin, '--json')
    expect(allowed.code).toBe(0)
    expect(JSON.parse(allowed.stdout).output).toMatchObject({ status: 200, ok: true })
    const read = await wasmProbe('run', guest('test-c/wasi.wasm'), '--input', '"read:/data/hello.txt"', '--preopen', `${join(dir, 'data')}:/data:ro`, '--json')
    expect(JSON.parse(read.stdout).output).toEqual({ ok: true, content: 'from the cli' })
    const env = await wasmProbe('run', guest('test-c/wasi.wasm'), '--input', '"env:MODE"', '--env', 'MODE=cli', '--json')
    expect(JSON.parse(env.stdout).output).toEqual({ value: 'cli' })
  })

  test('a wrong command line exits 64 with the usage', async () => {
    for (const args of [
      [],
      ['run'],
      ['explode', 'x.wasm'],
      ['run', 'x.wasm', '--timeout', 'soon'],
      ['run', 'x.wasm', '--bogus'],
      ['run', 'x.wasm', '--preopen', 'nocolon'],
      ['run', 'x.wasm', '--target', 'x86_64-unknown-linux-gnu'],
      ['compile'],
      ['compile', 'x.wat', '--timeout', '5'],
      ['compile', 'x.wat', 'y.wat'],
      ['compile', 'x.cwasm', '-o', 'x.cwasm'],
    ]) {
      const r = await wasmProbe(...args)
      expect(r.code, args.join(' ')).toBe(64)
      expect(r.stderr.length).toBeGreaterThan(0)
    }
  })
})

describe('wasm-probe inspect', () => {
  test('kind, imports, exports and the capabilities a guest could use', async () => {
    const c = await wasmProbe('inspect', guest('c/http-check.wasm'), '--json')
    expect(c.code).toBe(0)
    const facts = JSON.parse(c.stdout)
    expect(facts).toMatchObject({ kind: 'module', name: 'http-check.wasm' })
    expect(facts.exports).toContain('execute')
    expect(facts.capabilities).toEqual(expect.arrayContaining(['http', 'logs', 'json', 'clock']))
    const js = await wasmProbe('inspect', guest('test-js/fetch.wasm'))
    expect(js.stdout).toMatch(/component/)
    expect(js.stdout).toMatch(/capabilities it could use: .*http/)
  })
})

/** The Rust target triple of this machine, and one that is surely not it. */
const here = {
  x64: 'x86_64',
  arm64: 'aarch64',
}[process.arch]
const hostTriple =
  process.platform === 'linux'
    ? `${here}-unknown-linux-${process.report.getReport().header.glibcVersionRuntime ? 'gnu' : 'musl'}`
    : process.platform === 'darwin'
      ? `${here}-apple-darwin`
      : `${here}-pc-windows-msvc`
const foreignTriple = process.platform === 'linux' && process.arch === 'arm64' ? 'x86_64-unknown-linux-gnu' : 'aarch64-unknown-linux-gnu'

describe('wasm-probe compile', () => {
  const wordCount = () => {
    const src = join(dir, 'word-count.wat')
    copyFileSync(join(root, 'examples', 'guests', 'wat', 'word-count.wat'), src)
    return src
  }

  test('writes an artifact next to the input (path, size, target printed) that run and inspect load', async () => {
    const src = wordCount()
    const out = join(dir, 'word-count.cwasm')
    const r = await wasmProbe('compile', src)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout.trim()).toBe(`wrote ${out} (${statSync(out).size} bytes, target ${hostTriple})`)

    const ran = await wasmProbe('run', out, '--input', '{"text":"one two three"}')
    expect(ran.code, ran.stderr).toBe(0)
    expect(JSON.parse(ran.stdout)).toEqual({ words: 3 })
    expect(ran.stderr).toMatch(/\[guest\/info\] counted words/)

    const facts = JSON.parse((await wasmProbe('inspect', out, '--json')).stdout)
    expect(facts).toMatchObject({ name: 'word-count.cwasm', kind: 'module', precompiled: true, tier: 'optimized' })
    expect(facts.exports).toContain('execute')
    // The artifact remembers its source: the same hash as the WAT it was made from.
    expect(facts.hash).toBe(JSON.parse((await wasmProbe('inspect', src, '--json')).stdout).hash)
  })

  test('-o and --target: an artifact for another target is made here but refused here', async () => {
    const out = join(dir, 'foreign.cwasm')
    const r = await wasmProbe('compile', wordCount(), '-o', out, '--target', foreignTriple, '--json')
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({ path: out, size: statSync(out).size, target: foreignTriple })
    const ran = await wasmProbe('run', out, '--input', '{"text":"a"}')
    expect(ran.code).toBe(2)
    expect(ran.stderr).toMatch(/^ERR_WASM_INVALID_MODULE: .*made by another engine build, configuration or target/m)
  })

  test('an unknown or unsupported --target is a wrong command line, named', async () => {
    for (const target of ['sparc64-unknown-linux-gnu', 'not-a-triple', 'wasm32-unknown-unknown']) {
      const r = await wasmProbe('compile', wordCount(), '-o', join(dir, 'never.cwasm'), '--target', target)
      expect(r.code, target).toBe(64)
      expect(r.stderr).toMatch(/^--target: ERR_INVALID_ARG_VALUE: .*target/m)
    }
    expect(() => statSync(join(dir, 'never.cwasm'))).toThrow()
  })

  test('a damaged artifact or a file that is not one is refused, saying which', async () => {
    const out = join(dir, 'damaged.cwasm')
    expect((await wasmProbe('compile', wordCount(), '-o', out)).code).toBe(0)
    const bytes = readFileSync(out)
    bytes[bytes.length >> 1] ^= 0xff
    writeFileSync(out, bytes)
    const damaged = await wasmProbe('run', out)
    expect(damaged.code).toBe(2)
    expect(damaged.stderr).toMatch(/^ERR_WASM_INVALID_MODULE: .*damaged/m)

    const plain = join(dir, 'plain.cwasm')
    copyFileSync(join(root, 'examples', 'guests', 'wat', 'word-count.wat'), plain)
    const foreign = await wasmProbe('inspect', plain)
    expect(foreign.code).toBe(2)
    expect(foreign.stderr).toMatch(/^ERR_WASM_INVALID_MODULE: .*not a wasm-probe precompiled artifact/m)
  })

  test('a guest that is not valid wasm fails like run does', async () => {
    const bad = join(dir, 'bad.wat')
    writeFileSync(bad, '(module (func (export "execute") (result i32) i64.const 1))')
    const r = await wasmProbe('compile', bad)
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/^ERR_WASM_INVALID_MODULE: /m)
    expect(() => statSync(join(dir, 'bad.cwasm'))).toThrow()
  })
})
