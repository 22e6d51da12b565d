// The persistent compiled-code cache, across real processes.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { WasmRuntime, guest, root } from './helpers.mjs'

const dir = mkdtempSync(join(tmpdir(), 'wasm-probe-cache-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Loads `path` with `cacheDir` in a fresh Node process; returns its stats and the probe's output. */
function loadInFreshProcess(path, input) {
  const script = `
    const { WasmRuntime } = require(${JSON.stringify(join(root, 'index.js'))})
    ;(async () => {
      const rt = new WasmRuntime({ cacheDir: ${JSON.stringify(dir)} })
      const m = await rt.loadModule(${JSON.stringify(path)})
      const r = await rt.executeProbe(m, ${JSON.stringify(input)})
      console.log(JSON.stringify({ stats: rt.stats(), output: r.output }))
      await rt.close()
    })()`
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 120_000 })
  expect(r.stderr).toBe('')
  expect(r.status).toBe(0)
  return JSON.parse(r.stdout)
}

const entries = () => readdirSync(dir).filter((f) => f.endsWith('.cwasm'))

describe('cacheDir', () => {
  test('a second process loads the componentize-js guest from disk instead of compiling it', () => {
    const first = loadInFreshProcess(guest('js/greet.wasm'), { name: 'cache' })
    expect(first.stats).toMatchObject({ cacheMisses: 1, cacheHits: 0 })
    expect(entries()).toHaveLength(1)
    const second = loadInFreshProcess(guest('js/greet.wasm'), { name: 'cache' })
    expect(second.stats).toMatchObject({ cacheMisses: 0, cacheHits: 1 })
    expect(second.output.greeting).toBe(first.output.greeting)
  })

  test('a damaged entry is never loaded: it is dropped and the guest compiled again', () => {
    const path = guest('test-c/wasi.wasm')
    const before = new Set(entries())
    const first = loadInFreshProcess(path, 'args')
    const entry = entries().find((f) => !before.has(f))
    expect(entry).toBeDefined()
    const bytes = readFileSync(join(dir, entry))
    bytes[bytes.length - 100] ^= 0xff
    writeFileSync(join(dir, entry), bytes)
    const again = loadInFreshProcess(path, 'args')
    expect(again.stats).toMatchObject({ cacheMisses: 1, cacheHits: 0 })
    expect(first.output).toEqual({ args: [] })
    expect(again.output).toEqual(first.output)
    const healed = loadInFreshProcess(path, 'args')
    expect(healed.stats).toMatchObject({ cacheHits: 1 })
  })

  test('a cacheDir that cannot be created is refused', () => {
    const file = join(dir, 'a-file')
    writeFileSync(file, 'x')
    let error
    try {
      new WasmRuntime({ cacheDir: join(file, 'sub') })
    } catch (e) {
      error = e
    }
    expect(error.code).toBe('ERR_INVALID_ARG_VALUE')
    expect(error.message).toContain('cacheDir')
  })
})
