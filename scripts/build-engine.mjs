// The built-in JavaScript engine (issue 27, first step): QuickJS-ng, pinned, built from the C
// sources that crates.io's `rquickjs-sys` vendors — fetched by cargo into its registry cache, never
// copied into this repository — plus this project's own host layer (engine/*.c), compiled by the
// same clang + wasi-libc as the C guests into build/engine/quickjs-ng.wasm.
//
// The compiled engine is then pre-initialized by the addon (src/script/preinit.rs): its QuickJS
// runtime, context and globals are built once and snapshotted into the module. `loadScript`
// (lib/script.js) runs scripts on the result.

import { spawnSync, execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { wasmClang } from './wasm-clang.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
export const QUICKJS_CRATE = { name: 'rquickjs-sys', version: '0.14.0' } // QuickJS-ng 0.16.2
export const enginePath = join(root, 'build', 'engine', 'quickjs-ng.wasm')
const rawPath = join(root, 'build', 'engine', 'quickjs-ng.raw.wasm')

/** The QuickJS-ng source folder of the pinned crate, fetched by cargo when missing. */
export function quickjsSources() {
  const dir = join(root, 'build', 'engine', 'fetch')
  mkdirSync(join(dir, 'src'), { recursive: true })
  writeFileSync(
    join(dir, 'Cargo.toml'),
    `[package]\nname = "engine-sources"\nversion = "0.0.0"\nedition = "2021"\n\n[workspace]\n\n[dependencies]\n${QUICKJS_CRATE.name} = "=${QUICKJS_CRATE.version}"\n`,
  )
  writeFileSync(join(dir, 'src', 'lib.rs'), '')
  const manifest = join(dir, 'Cargo.toml')
  const fetched = spawnSync('cargo', ['fetch', '--manifest-path', manifest], { stdio: ['ignore', 'ignore', 'inherit'] })
  if (fetched.status !== 0) throw new Error(`cargo fetch of ${QUICKJS_CRATE.name} ${QUICKJS_CRATE.version} failed`)
  const meta = JSON.parse(execFileSync('cargo', ['metadata', '--format-version', '1', '--manifest-path', manifest], { encoding: 'utf8', maxBuffer: 64 << 20 }))
  const pkg = meta.packages.find((p) => p.name === QUICKJS_CRATE.name && p.version === QUICKJS_CRATE.version)
  if (!pkg) throw new Error(`cargo metadata does not list ${QUICKJS_CRATE.name} ${QUICKJS_CRATE.version}`)
  const quickjs = join(dirname(pkg.manifest_path), 'quickjs')
  if (!existsSync(join(quickjs, 'quickjs.c'))) throw new Error(`${quickjs} holds no quickjs.c`)
  return quickjs
}

const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : 0)

/** Builds the engine when it is missing or older than what it is made from. */
export function buildEngine({ quiet = false } = {}) {
  const hostDir = join(root, 'engine')
  const hostFiles = readdirSync(hostDir).map((f) => join(hostDir, f))
  const inputs = [...hostFiles.filter((f) => /\.(c|h|js)$/.test(f)), fileURLToPath(import.meta.url)]
  if (mtime(rawPath) <= Math.max(...inputs.map(mtime))) compile(hostFiles.filter((f) => f.endsWith('.c')))
  // The snapshot is taken by the addon: made again when the addon or the compiled engine changed.
  const addons = readdirSync(root).filter((f) => f.endsWith('.node')).map((f) => join(root, f))
  if (mtime(enginePath) > Math.max(mtime(rawPath), ...addons.map(mtime))) return enginePath
  // Its runtime, context and globals built once, here, and snapshotted (src/script/preinit.rs,
  // through the addon setup built just before): an instance starts with them.
  const { preinitializeScriptEngine } = createRequire(import.meta.url)(join(root, 'binding.js'))
  writeFileSync(enginePath, preinitializeScriptEngine(readFileSync(rawPath)))
  if (!quiet) console.error(`[guests] built ${enginePath} (${statSync(enginePath).size} bytes, QuickJS-ng from ${QUICKJS_CRATE.name} ${QUICKJS_CRATE.version}, pre-initialized)`)
  return enginePath
}

/**
 * quickjs.c with its stack limit working on WASI, written beside the engine (the registry's copy
 * stays as it is): QuickJS-ng 0.16.2 turns the limit off there (`update_stack_limit`), so a deep
 * recursion would run the wasm stack out — a trap — before any catchable RangeError. With it on,
 * the host layer sets a limit on the C stack that trips first (engine/quickjs-host.c).
 */
function patchedQuickjs(quickjs) {
  const anchor = 'static void update_stack_limit(JSRuntime *rt)\n{\n#if defined(__wasi__)'
  const text = readFileSync(join(quickjs, 'quickjs.c'), 'utf8')
  if (!text.includes(anchor)) throw new Error(`${QUICKJS_CRATE.name} ${QUICKJS_CRATE.version}: quickjs.c no longer has the WASI stack-limit switch this build turns on`)
  const patched = join(dirname(rawPath), 'quickjs.c')
  writeFileSync(patched, text.replace(anchor, anchor.replace('#if defined(__wasi__)', '#if 0 /* wasm-probe-runtime: the limit works on WASI */')))
  return patched
}

/** Compiles QuickJS-ng and the host layer's `sources` into the engine before its snapshot. */
function compile(sources) {
  const quickjs = quickjsSources()
  const cc = wasmClang()
  mkdirSync(dirname(rawPath), { recursive: true })
  // engine/prelude.js as a C string (clang 14 has no #embed); JSON's escapes are C's for ASCII.
  const prelude = readFileSync(join(root, 'engine', 'prelude.js'), 'utf8')
  if (/[^\x00-\x7f]/.test(prelude)) throw new Error('engine/prelude.js must be ASCII (it is embedded as a C string)')
  writeFileSync(join(dirname(rawPath), 'prelude.h'), `static const char PRELUDE[] = ${JSON.stringify(prelude)};\n`)
  const args = [
    ...cc.flags,
    '-O2',
    '-mexec-model=reactor',
    // QuickJS-ng's own WASI settings (its CMakeLists.txt): emulated signals and process clocks.
    '-D_WASI_EMULATED_SIGNAL',
    '-D_WASI_EMULATED_PROCESS_CLOCKS',
    '-D_GNU_SOURCE',
    // No assertion traps in the engine (see engine/quickjs-host.c).
    '-DNDEBUG',
    '-I', quickjs,
    '-I', join(root, 'examples', 'guests', 'c'),
    '-I', dirname(rawPath),
    // The C stack in linear memory: 1 MiB instead of wasm-ld's 64 KiB, which deep recursion in
    // the engine would overrun into its heap silently.
    '-Wl,-z,stack-size=1048576',
    '-Wl,--strip-debug',
    '-o', rawPath,
    ...sources,
    patchedQuickjs(quickjs),
    ...['libregexp.c', 'libunicode.c', 'dtoa.c'].map((f) => join(quickjs, f)),
    '-lwasi-emulated-signal',
    '-lwasi-emulated-process-clocks',
    // Quiet: QuickJS's sources warn a lot under clang 14; errors still print.
    '-w',
  ]
  const r = spawnSync(cc.command, args, { stdio: 'inherit' })
  if (r.status !== 0) throw new Error(`clang (${cc.from}) failed to build the JavaScript engine`)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) buildEngine()
