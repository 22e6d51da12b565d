#!/usr/bin/env node
// Makes a fresh clone ready to run, and is cheap when it already is. `npm run demo`, `npm test`
// and `npm run bench` call it first, so each of them works as the only command:
//   1. npm packages (npm install) when node_modules is missing or package.json changed;
//   2. the C-to-wasm toolchain (Debian: clang, lld, wasi-libc, wasm32 compiler-rt) when missing;
//   3. the addon, built with the `fast` cargo profile (cargo itself decides what is stale);
//   4. the example and test guests (scripts/build-guests.mjs, only what is stale).
// WASM_PROBE_SKIP_BUILD=1 skips step 3 (use a .node you built yourself, e.g. `npm run build`).

import { execFileSync, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { aptInstall } from './apt.mjs'
import { wasmClang } from './wasm-clang.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const quiet = process.env.WASM_PROBE_SETUP_QUIET === '1'
const say = (msg) => {
  if (!quiet) console.error(`[setup] ${msg}`)
}

// On Windows the commands run here (npm, napi) are .cmd scripts, which Node only starts through a shell.
function run(cmd, args, opts = {}) {
  const shell = process.platform === 'win32'
  const r = spawnSync(shell ? `"${cmd}"` : cmd, args, { cwd: root, stdio: 'inherit', shell, ...opts })
  if (r.error) throw new Error(`${cmd} could not start: ${r.error.message}`)
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed with exit code ${r.status}`)
}

// `npm install` rather than `npm ci`: npm 11 refuses `ci` with lock files that leave out other
// platforms' optional packages, which is what it writes itself. The lock file still pins versions.
function ensureNpmPackages() {
  const stamp = join(root, 'node_modules', '.wasm-probe-setup')
  // The server workspace's packages are installed with the root's.
  const hash = createHash('sha256').update(readFileSync(join(root, 'package.json')))
  const server = join(root, 'server', 'package.json')
  if (existsSync(server)) hash.update(readFileSync(server))
  const want = hash.digest('hex')
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === want) return
  say('installing npm packages')
  run('npm', ['install', '--no-audit', '--no-fund'])
  writeFileSync(stamp, want)
}

function wasmToolchainWorks() {
  const dir = mkdtempSync(join(tmpdir(), 'wasm-probe-cc-'))
  try {
    writeFileSync(join(dir, 't.c'), '#include <stdio.h>\nint main(void){puts("x");return 0;}\n')
    const cc = wasmClang()
    const r = spawnSync(cc.command, [...cc.flags, '-O1', '-o', join(dir, 't.wasm'), join(dir, 't.c')], { stdio: 'ignore' })
    return r.status === 0
  } catch {
    return false
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function ensureWasmToolchain() {
  if (wasmToolchainWorks()) return
  if (process.env.WASI_SDK_PATH) {
    throw new Error(`${wasmClang().command} cannot build for wasm32-wasip1: WASI_SDK_PATH must name an unpacked wasi-sdk`)
  }
  aptInstall(['clang', 'lld', 'wasi-libc', 'libclang-rt-dev-wasm32'], 'the C-to-wasm toolchain', {
    say,
    withoutApt:
      `building the C guests needs clang with a wasm32-wasi sysroot (wasi-libc), which is not installed.\n` +
      `Unpack wasi-sdk (https://github.com/WebAssembly/wasi-sdk/releases) and set WASI_SDK_PATH to it, or\n` +
      `install clang, lld, wasi-libc and the wasm32 compiler-rt builtins with your package manager.`,
  })
  if (!wasmToolchainWorks()) throw new Error('clang still cannot build for wasm32-wasi after installing the toolchain')
}

function buildAddon() {
  if (process.env.WASM_PROBE_SKIP_BUILD === '1') {
    say('WASM_PROBE_SKIP_BUILD=1: using the addon as it is')
    return
  }
  say('building the addon (cargo profile "fast")')
  const napi = join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'napi.cmd' : 'napi')
  run(napi, ['build', '--platform', '--profile', 'fast', '--js', 'binding.js', '--dts', 'binding.d.ts'])
}

try {
  ensureNpmPackages()
  ensureWasmToolchain()
  buildAddon()
  execFileSync(process.execPath, [join(root, 'scripts', 'build-guests.mjs')], { stdio: 'inherit', cwd: root })
} catch (e) {
  console.error(`[setup] ${e.message}`)
  process.exit(1)
}
