// Installing and loading: what happens when the platform's native binary is missing.
import { spawnSync } from 'node:child_process'
import { copyFileSync, cpSync, mkdtempSync, rmSync } from 'node:fs'
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
    cpSync(join(root, 'lib'), join(scratch, 'lib'), { recursive: true })
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

describe('npm packages', () => {
  test('the root package and this platform’s package, packed and installed into a scratch project, run a probe', async () => {
    const { execFileSync } = await import('node:child_process')
    const { cpSync, readdirSync, readFileSync, statSync, writeFileSync } = await import('node:fs')
    const libc = process.platform === 'linux' ? (process.report.getReport().header.glibcVersionRuntime ? 'glibc' : 'musl') : undefined
    const platform = readdirSync(join(root, 'npm')).find((dir) => {
      const pkg = JSON.parse(readFileSync(join(root, 'npm', dir, 'package.json'), 'utf8'))
      return pkg.os.includes(process.platform) && pkg.cpu.includes(process.arch) && (!pkg.libc || pkg.libc.includes(libc))
    })
    expect(platform, 'an npm/ package for this platform').toBeDefined()
    const work = mkdtempSync(join(tmpdir(), 'wasm-probe-pack-'))
    try {
      // The platform package gets the binary the build made, as `napi artifacts` does in CI.
      const pkgDir = join(work, platform)
      cpSync(join(root, 'npm', platform), pkgDir, { recursive: true })
      const binary = `wasm-probe-runtime.${platform}.node`
      copyFileSync(join(root, binary), join(pkgDir, binary))
      const npm = (args, cwd) => execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, encoding: 'utf8' })
      const rootTgz = npm(['pack', '--pack-destination', work], root).trim().split('\n').at(-1)
      const platformTgz = npm(['pack', '--pack-destination', work], pkgDir).trim().split('\n').at(-1)
      const scratch = join(work, 'scratch')
      cpSync(join(root, '__test__', 'guests', 'echo.wat'), join(scratch, 'echo.wat'), { recursive: true })
      writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: 'scratch', version: '1.0.0', private: true }))
      npm(['install', join(work, rootTgz), join(work, platformTgz)], scratch)
      const installed = join(scratch, 'node_modules', 'wasm-probe-runtime')
      expect(readdirSync(installed).some((f) => f.endsWith('.node'))).toBe(false)
      expect(readdirSync(join(scratch, 'node_modules', `wasm-probe-runtime-${platform}`))).toContain(binary)
      const script = `
        const { WasmRuntime, nativeBinding } = require('wasm-probe-runtime')
        ;(async () => {
          const rt = new WasmRuntime()
          const m = await rt.loadModule('echo.wat')
          const r = await rt.executeProbe(m, { installed: true })
          console.log(JSON.stringify({ loaded: nativeBinding.loaded, output: r.output }))
          await rt.close()
        })()`
      const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: scratch, encoding: 'utf8' }))
      expect(out).toEqual({ loaded: true, output: { installed: true } })
      const cli = execFileSync(join(scratch, 'node_modules', '.bin', 'wasm-probe'), ['run', 'echo.wat', '--input', '[1]'], { cwd: scratch, encoding: 'utf8' })
      expect(JSON.parse(cli)).toEqual([1])
      const du = (dir) => readdirSync(dir, { recursive: true }).reduce((n, f) => n + (statSync(join(dir, f)).isFile() ? statSync(join(dir, f)).size : 0), 0)
      console.log(
        `[sizes] root package: ${statSync(join(work, rootTgz)).size} bytes packed, ${du(installed)} installed; ` +
          `${platform} package: ${statSync(join(work, platformTgz)).size} bytes packed, ${du(join(scratch, 'node_modules', `wasm-probe-runtime-${platform}`))} installed`,
      )
    } finally {
      rmSync(work, { recursive: true, force: true })
    }
  })
})
