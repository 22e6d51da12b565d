#!/usr/bin/env node
// Builds every guest from source with real toolchains, into build/guests/:
//   examples/guests/c/*.c     -> build/guests/c/<name>.wasm       (clang + wasi-libc, reactor)
//   __test__/guests/c/*.c     -> build/guests/test-c/<name>.wasm  (same)
//   examples/guests/js/*.js   -> build/guests/js/<name>.wasm      (componentize-js, probe world)
//   __test__/guests/js/*.js   -> build/guests/test-js/<name>.wasm (same)
//   __test__/guests/c-component/*.c -> build/guests/test-component/<name>.wasm (clang, then jco
//                                componentEmbed + componentNew with the WASI p1 reactor adapter)
//   __test__/guests/typed/*.js  -> build/guests/typed/<name>.wasm (componentize-js, the typed
//                                test world of __test__/guests/typed/typed.wit)
//   examples/guests/typed/*.c   -> build/guests/typed-example/<name>.wasm (a C component of the
//                                world of <name>.wit beside it, built as the next one is)
//   __test__/guests/typed-c/*.c -> build/guests/typed/<name>-c.wasm (the same world in C: bindings
//                                by wit-bindgen, installed into build/tools when missing; clang;
//                                jco componentNew with the WASI p1 reactor adapter)
//   engine/*.c + QuickJS-ng's sources -> build/engine/quickjs-ng.wasm (scripts/build-engine.mjs)
// Only stale outputs are rebuilt (the source, a header beside it, the WIT or this script changed).
// WAT guests need no build: the runtime loads .wat files directly.
// componentize-js 0.23 imports @bytecodealliance/preview2-shim without declaring it; package.json
// pins the 0.25 release it works with (0.26 cannot read the WIT directory).

import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, basename } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildEngine } from './build-engine.mjs'
import { cargoTool } from './cargo-tool.mjs'
import { wasmClang } from './wasm-clang.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const out = join(root, 'build', 'guests')
const quiet = process.env.WASM_PROBE_SETUP_QUIET === '1'

const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : 0)
const newest = (paths) => Math.max(...paths.map(mtime))
const list = (dir, ext) =>
  existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith(ext))
        .map((f) => join(dir, f))
    : []

function stale(output, inputs) {
  return mtime(output) === 0 || newest([...inputs, fileURLToPath(import.meta.url)]) > mtime(output)
}

// The probe ABI header lives with the C example; test guests include it from there.
const includeDir = join(root, 'examples', 'guests', 'c')

// One C file to a reactor module (`_initialize` runs libc's constructors before the export).
const cc = wasmClang()
function compileC(src, output, extraArgs = []) {
  const args = [...cc.flags, '-O2', '-mexec-model=reactor', '-Wl,--strip-debug', ...extraArgs, '-o', output, src]
  if (spawnSync(cc.command, args, { stdio: 'inherit' }).status !== 0) throw new Error(`clang (${cc.from}) failed for ${src}`)
}

function buildC(srcDir, outDir) {
  const headers = [...list(srcDir, '.h'), ...list(includeDir, '.h')]
  for (const src of list(srcDir, '.c')) {
    const target = join(outDir, basename(src, '.c') + '.wasm')
    if (!stale(target, [src, ...headers])) continue
    mkdirSync(outDir, { recursive: true })
    compileC(src, target, ['-I', includeDir])
    if (!quiet) console.error(`[guests] built ${target}`)
  }
}

// A C component: clang builds a core module exporting the probe world's `execute` through the
// canonical ABI; jco embeds the WIT and wraps it into a component with the WASI p1 reactor
// adapter, so libc's files, environment and arguments become WASI 0.2 calls.
async function buildCComponents(srcDir, outDir) {
  const wit = join(root, 'wit')
  const todo = list(srcDir, '.c')
    .map((src) => [src, join(outDir, basename(src, '.c') + '.wasm')])
    .filter(([src, target]) => stale(target, [src, ...list(wit, '.wit')]))
  if (todo.length === 0) return
  const jco = await import('@bytecodealliance/jco')
  const adapter = readFileSync(jco.preview1AdapterReactorPath())
  mkdirSync(outDir, { recursive: true })
  for (const [src, target] of todo) {
    const core = target + '.core'
    compileC(src, core)
    // The WIT goes in as text: jco's bundled filesystem shim cannot read a directory here.
    const witSource = list(wit, '.wit').map((f) => readFileSync(f, 'utf8')).join('\n')
    const embedded = await jco.componentEmbed({ binary: readFileSync(core), witSource, world: 'probe' })
    const component = await jco.componentNew(embedded, [['wasi_snapshot_preview1', adapter]])
    writeFileSync(target, component)
    rmSync(core)
    if (!quiet) console.error(`[guests] built ${target} (${component.length} bytes)`)
  }
}

async function buildJs(srcDir, outDir) {
  const wit = join(root, 'wit')
  const sources = list(srcDir, '.js')
  const targets = sources.map((src) => [src, join(outDir, basename(src, '.js') + '.wasm')])
  const todo = targets.filter(([src, target]) => stale(target, [src, ...list(wit, '.wit')]))
  if (todo.length === 0) return
  const { componentize } = await import('@bytecodealliance/componentize-js')
  mkdirSync(outDir, { recursive: true })
  for (const [src, target] of todo) {
    const { component } = await componentize({ sourcePath: src, witPath: wit, worldName: 'probe' })
    writeFileSync(target, component)
    if (!quiet) console.error(`[guests] built ${target} (${component.length} bytes)`)
  }
}

// A guest of another world: its WIT directory is assembled under build/wit/<world>/ with the
// probe:runtime package beside it as a dependency (deps/probe/probe.wit).
function worldDir(world, witFile) {
  const dir = join(root, 'build', 'wit', world)
  mkdirSync(join(dir, 'deps', 'probe'), { recursive: true })
  writeFileSync(join(dir, `${world}.wit`), readFileSync(witFile))
  writeFileSync(join(dir, 'deps', 'probe', 'probe.wit'), readFileSync(join(root, 'wit', 'probe.wit')))
  return dir
}

async function buildTypedJs(srcDir, outDir) {
  const witFile = join(srcDir, 'typed.wit')
  const todo = list(srcDir, '.js')
    .map((src) => [src, join(outDir, basename(src, '.js') + '.wasm')])
    .filter(([src, target]) => stale(target, [src, witFile, ...list(join(root, 'wit'), '.wit')]))
  if (todo.length === 0) return
  const witPath = worldDir('typed', witFile)
  const { componentize } = await import('@bytecodealliance/componentize-js')
  mkdirSync(outDir, { recursive: true })
  for (const [src, target] of todo) {
    const { component } = await componentize({ sourcePath: src, witPath, worldName: 'typed' })
    writeFileSync(target, component)
    if (!quiet) console.error(`[guests] built ${target} (${component.length} bytes)`)
  }
}

// Bindings for a world's C guests, by the pinned wit-bindgen; the generated object file carries
// the world's component type into the core module.
const WIT_BINDGEN_VERSION = '0.63.0'
async function buildWorldC(srcDir, world, witFile, outDir, suffix = '') {
  const todo = list(srcDir, '.c')
    .map((src) => [src, join(outDir, `${basename(src, '.c')}${suffix}.wasm`)])
    .filter(([src, target]) => stale(target, [src, witFile, ...list(join(root, 'wit'), '.wit')]))
  if (todo.length === 0) return
  const witBindgen = cargoTool({ bin: 'wit-bindgen', crate: 'wit-bindgen-cli', version: WIT_BINDGEN_VERSION, features: 'c', say: (m) => console.error(`[guests] ${m}`) })
  const bindings = join(root, 'build', 'wit', `${world}-c`)
  rmSync(bindings, { recursive: true, force: true })
  mkdirSync(bindings, { recursive: true })
  const made = spawnSync(witBindgen, ['c', worldDir(world, witFile), '--world', world, '--out-dir', bindings], { stdio: quiet ? 'ignore' : 'inherit' })
  if (made.status !== 0) throw new Error(`wit-bindgen c failed for the ${world} world`)
  const jco = await import('@bytecodealliance/jco')
  const adapter = readFileSync(jco.preview1AdapterReactorPath())
  mkdirSync(outDir, { recursive: true })
  for (const [src, target] of todo) {
    const core = target + '.core'
    // wit-bindgen names its files after the world, in snake case.
    const stem = world.replace(/-/g, '_')
    compileC(src, core, ['-I', bindings, join(bindings, `${stem}.c`), join(bindings, `${stem}_component_type.o`)])
    const component = await jco.componentNew(readFileSync(core), [['wasi_snapshot_preview1', adapter]])
    writeFileSync(target, component)
    rmSync(core)
    if (!quiet) console.error(`[guests] built ${target} (${component.length} bytes)`)
  }
}

buildC(join(root, 'examples', 'guests', 'c'), join(out, 'c'))
buildC(join(root, '__test__', 'guests', 'c'), join(out, 'test-c'))
await buildJs(join(root, 'examples', 'guests', 'js'), join(out, 'js'))
await buildJs(join(root, '__test__', 'guests', 'js'), join(out, 'test-js'))
await buildCComponents(join(root, '__test__', 'guests', 'c-component'), join(out, 'test-component'))
await buildTypedJs(join(root, '__test__', 'guests', 'typed'), join(out, 'typed'))
await buildWorldC(join(root, 'examples', 'guests', 'typed'), 'text-stats', join(root, 'examples', 'guests', 'typed', 'text-stats.wit'), join(out, 'typed-example'))
await buildWorldC(join(root, '__test__', 'guests', 'typed-c'), 'typed', join(root, '__test__', 'guests', 'typed', 'typed.wit'), join(out, 'typed'), '-c')
// The built-in JavaScript engine (QuickJS-ng + engine/*.c) -> build/engine/quickjs-ng.wasm.
buildEngine({ quiet })
