// Installing and loading: what happens when the platform's native binary is missing.
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { root } from './helpers.mjs'

const scratch = mkdtempSync(join(tmpdir(), 'wasm-probe-nobinary-'))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

describe('a platform with no native binary', () => {
  test('require works, nativeBinding says why, and new WasmRuntime() throws a catchable WasmError', () => {
    // The package as installed, minus the .node file and with no platform package to fall back on.
    for (const file of ['index.js', 'binding.js', 'package.json']) copyFileSync(join(root, file), join(scratch, file))
    const script = `
      const pkg = require(${JSON.stringify(scratch)})
      let error
      try { new pkg.WasmRuntime() } catch (e) { error = e }
      console.log(JSON.stringify({
        loaded: pkg.nativeBinding.loaded,
        tried: pkg.nativeBinding.tried,
        platform: pkg.nativeBinding.platform,
        isWasmError: error instanceof pkg.WasmError,
        code: error && error.code,
        message: error && error.message,
      }))`
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', cwd: scratch })
    expect(r.stderr).toBe('')
    const seen = JSON.parse(r.stdout)
    expect(seen.loaded).toBe(false)
    expect(seen.platform).toBe(process.platform)
    expect(seen.isWasmError).toBe(true)
    expect(seen.code).toBe('ERR_WASM_UNSUPPORTED_PLATFORM')
    expect(seen.message).toContain(`${process.platform}-${process.arch}`)
    expect(seen.tried.join('\n')).toMatch(/wasm-probe-runtime\.[a-z0-9-]+\.node/)
  })
})
