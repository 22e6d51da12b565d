#!/usr/bin/env node
// npm run fuzz -- --count N [--seed S] [--jobs J]
//
// Generates guests with wasm-tools (installed with `cargo install` into build/tools when missing)
// and runs each through load + execute (one in ten through instantiate + two calls + dispose)
// with small limits, on optimizing or baseline code, with or without a filesystem grant, in a
// child process (scripts/fuzz-child.mjs) so that a crash is caught. The mix, by case number:
//   core       `wasm-tools smith`: modules that export `execute` and `memory` and may import any
//              of the probe ABI and a set of WASI p1 calls (build/fuzz/imports.wat)
//   component  `wasm-tools smith --module-shape` of the probe world's core module, wrapped with
//              `component embed` + `component new` (wasm-smith has no maintained component
//              generator; wasm-mutate does not take components)
//   mutated    the C test component with random bytes changed, cut short or overwritten
//   rewritten  `wasm-tools mutate` of the C test module (semantics-changing rewrites)
// Any outcome other than a result, a guest failure or a known error code (ERR_WASM_HOST, a
// failure of the runtime itself, is not one), anything a runtime still holds after the case
// (instances, memory, executions), any hang past the case timeout, or a dead child is a failure:
// the case is saved under build/fuzz/failures/.
import { fork, spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { wholeNumberArg } from './args.mjs'
import { cargoTool } from './cargo-tool.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const out = join(root, 'build', 'fuzz')
const WASM_TOOLS_VERSION = '1.263.0'
const CASE_TIMEOUT_MS = 60_000

const KNOWN_CODES = new Set([
  'ERR_WASM_INVALID_MODULE', 'ERR_WASM_LINK', 'ERR_WASM_CAPABILITY_DENIED', 'ERR_WASM_NO_EXPORT',
  'ERR_WASM_TRAP', 'ERR_WASM_STACK_OVERFLOW', 'ERR_WASM_MEMORY_LIMIT', 'ERR_WASM_FUEL_EXHAUSTED',
  'ERR_WASM_TIMEOUT', 'ERR_WASM_BAD_OUTPUT', 'ERR_WASM_INSTANCE_DISABLED',
])

function args() {
  return {
    count: wholeNumberArg('--count', 1000),
    seed: wholeNumberArg('--seed', Date.now() % 1_000_000),
    jobs: Math.max(1, wholeNumberArg('--jobs', 2)),
  }
}

/** wasm-tools on PATH at the pinned version, or built into build/tools. */
function wasmTools() {
  const features = 'smith,mutate,validate,print,parse,component'
  return cargoTool({ bin: 'wasm-tools', crate: 'wasm-tools', version: WASM_TOOLS_VERSION, features, say: (m) => console.log(`[fuzz] ${m}`) })
}

/** `n` deterministic pseudo-random bytes for (seed, case, purpose). */
const bytesFor = (seed, i, purpose, n) => createHash('shake256', { outputLength: n }).update(`${seed}:${i}:${purpose}`).digest()

function tool(bin, argv, input) {
  return new Promise((resolve) => {
    const p = spawn(bin, argv, { stdio: ['pipe', 'pipe', 'pipe'] })
    const stdout = []
    const stderr = []
    p.stdout.on('data', (d) => stdout.push(d))
    p.stderr.on('data', (d) => stderr.push(d))
    p.on('close', (code) => resolve({ code, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr).toString() }))
    p.stdin.on('error', () => {})
    p.stdin.end(input)
  })
}

const PROBE_IMPORTS = [
  ['input_len', '(result i32)'], ['input_read', '(param i32)'], ['output_write', '(param i32 i32)'],
  ['error_write', '(param i32 i32)'], ['log', '(param i32 i32 i32)'], ['http_fetch', '(param i32 i32) (result i32)'],
  ['json_get', '(param i32 i32 i32 i32) (result i32)'], ['result_read', '(param i32)'], ['now_ms', '(result i64)'],
  ['monotonic_ns', '(result i64)'],
]
const WASI_IMPORTS = [
  ['fd_write', '(param i32 i32 i32 i32) (result i32)'], ['fd_read', '(param i32 i32 i32 i32) (result i32)'],
  ['fd_close', '(param i32) (result i32)'], ['fd_seek', '(param i32 i64 i32 i32) (result i32)'],
  ['fd_fdstat_get', '(param i32 i32) (result i32)'], ['fd_prestat_get', '(param i32 i32) (result i32)'],
  ['fd_prestat_dir_name', '(param i32 i32 i32) (result i32)'], ['fd_readdir', '(param i32 i32 i32 i64 i32) (result i32)'],
  ['path_open', '(param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)'], ['path_filestat_get', '(param i32 i32 i32 i32 i32) (result i32)'],
  ['proc_exit', '(param i32)'], ['random_get', '(param i32 i32) (result i32)'], ['clock_time_get', '(param i32 i64 i32) (result i32)'],
  ['environ_get', '(param i32 i32) (result i32)'], ['environ_sizes_get', '(param i32 i32) (result i32)'],
  ['args_get', '(param i32 i32) (result i32)'], ['args_sizes_get', '(param i32 i32) (result i32)'],
  ['poll_oneoff', '(param i32 i32 i32 i32) (result i32)'], ['sched_yield', '(result i32)'],
]

function writeShapes(bin) {
  mkdirSync(join(out, 'work'), { recursive: true })
  const imports = [
    ...PROBE_IMPORTS.map(([name, sig]) => `  (import "probe" "${name}" (func ${sig}))`),
    ...WASI_IMPORTS.map(([name, sig]) => `  (import "wasi_snapshot_preview1" "${name}" (func ${sig}))`),
  ]
  writeFileSync(join(out, 'imports.wat'), `(module\n${imports.join('\n')})\n`)
  writeFileSync(join(out, 'exports.wat'), '(module\n  (memory (export "memory") 1)\n  (func (export "execute") (result i32) (i32.const 0)))\n')
  const shape = spawnSync(bin, ['component', 'embed', join(root, 'wit'), '--world', 'probe', '--dummy', '-o', join(out, 'shape.wasm')], { encoding: 'utf8' })
  if (shape.status !== 0) throw new Error(`component embed --dummy failed: ${shape.stderr}`)
}

// The proposals this runtime's engines accept (Wasmtime 48's defaults without GC, threads or
// exceptions); wasm-smith enables newer ones by default.
const SMITH_FEATURES = [
  '--threads-enabled', 'false', '--gc-enabled', 'false', '--exceptions-enabled', 'false',
  '--compact-imports-enabled', 'false', '--custom-descriptors-enabled', 'false', '--custom-page-sizes-enabled', 'false',
  '--shared-everything-threads-enabled', 'false', '--wide-arithmetic-enabled', 'false',
  // externref is a GC type in Wasmtime 48, and this build has no GC.
  '--reference-types-enabled', 'false',
]
// Small guests, and termination forced on half of them (the other half run until their fuel or
// timeout ends them).
const SMITH_LIMITS = [
  ...SMITH_FEATURES,
  '--max-funcs', '60', '--max-instructions', '2000', '--max-memories', '2', '--max-memory32-bytes', String(8 << 20),
  '--max-tables', '2', '--max-table-elements', '2000', '--max-data-segments', '8', '--allow-start-export', 'true',
  '--canonicalize-nans', 'false',
]

const KINDS = ['component', 'mutated', 'rewritten']
const kindOf = (i) => (i % 20 < KINDS.length ? KINDS[i % 20] : 'core')

/** How case `i` runs, each choice from its own bits: the compiler, a filesystem grant, the
 *  long-lived path, and whether the generator forces termination. */
function choices(seed, i) {
  const b = bytesFor(seed, i, 'choices', 4)
  return { compiler: b[0] & 1 ? 'baseline' : 'optimizing', fs: (b[1] & 1) === 1, instance: b[2] % 10 === 0, terminate: (b[3] & 1) === 1 }
}

async function generate(bin, seed, i, bases, lane) {
  const kind = kindOf(i)
  const noise = bytesFor(seed, i, 'smith', 256 + (bytesFor(seed, i, 'size', 2).readUInt16LE() % 3840))
  const terminate = choices(seed, i).terminate ? ['--ensure-termination', '--fuel', '2000'] : []
  if (kind === 'core') {
    const r = await tool(bin, ['smith', ...SMITH_LIMITS, ...terminate, '--available-imports', join(out, 'imports.wat'), '--exports', join(out, 'exports.wat')], noise)
    return r.code === 0 ? { kind, bytes: r.stdout } : null
  }
  if (kind === 'component') {
    const core = join(out, 'work', `core-${lane}.wasm`)
    const r = await tool(bin, ['smith', '--module-shape', join(out, 'shape.wasm'), ...SMITH_FEATURES, '--max-instructions', '2000', ...terminate, '-o', core], noise)
    if (r.code !== 0) return null
    const embedded = join(out, 'work', `embedded-${lane}.wasm`)
    const e = await tool(bin, ['component', 'embed', join(root, 'wit'), '--world', 'probe', core, '-o', embedded], '')
    if (e.code !== 0) return null
    const c = await tool(bin, ['component', 'new', embedded], '')
    return c.code === 0 ? { kind, bytes: c.stdout } : null
  }
  if (kind === 'mutated') {
    const bytes = Buffer.from(bases.component)
    const rnd = bytesFor(seed, i, 'mutate', 64)
    const at = (k) => rnd.readUInt32LE(k * 4) % bytes.length
    switch (rnd[60] % 3) {
      case 0: // a few bytes changed
        for (let k = 0; k < 1 + (rnd[61] % 8); k++) bytes[at(k)] ^= 1 << (rnd[40 + k] % 8)
        return { kind, bytes }
      case 1: // cut short
        return { kind, bytes: bytes.subarray(0, at(0)) }
      default: // a run overwritten
        rnd.copy(bytes, at(0), 0, Math.min(32, bytes.length - at(0)))
        return { kind, bytes }
    }
  }
  const r = await tool(bin, ['mutate', '--seed', String(seed * 1_000_003 + i), join(root, 'build', 'guests', 'test-c', 'wasi.wasm')], '')
  return r.code === 0 ? { kind, bytes: r.stdout } : null
}

function startChild() {
  const child = fork(join(root, 'scripts', 'fuzz-child.mjs'), [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] })
  child.on('error', () => {}) // a death is reported through 'exit'
  let stderr = ''
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-4000)
  })
  const ready = new Promise((resolve, reject) => {
    child.once('message', (m) => (m.type === 'ready' ? resolve() : reject(new Error('unexpected first message'))))
    child.once('exit', (code) => reject(new Error(`the fuzz child exited (${code}) before it was ready: ${stderr}`)))
  })
  /** Runs one case: its outcomes, or { dead } / { hang }. */
  const run = (message) =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        cleanup()
        child.kill('SIGKILL')
        resolve({ hang: true })
      }, CASE_TIMEOUT_MS)
      const onMessage = (m) => {
        if (m.type !== 'done' || m.i !== message.i) return
        cleanup()
        resolve({ outcomes: m.outcomes })
      }
      const onExit = (code, signal) => {
        cleanup()
        resolve({ dead: `exited with ${signal || code}`, stderr })
      }
      const cleanup = () => {
        clearTimeout(timer)
        child.off('message', onMessage)
        child.off('exit', onExit)
      }
      child.on('message', onMessage)
      child.on('exit', onExit)
      // A child that died between cases is noticed here, not blamed on a send error.
      if (child.exitCode !== null || child.signalCode !== null) return onExit(child.exitCode, child.signalCode)
      child.send(message, (e) => e && onExit(`a failed send (${e.message})`, null))
    })
  return ready.then(() => ({ child, run }))
}

const isKnown = (o) => {
  const bare = o.replace(/^(instantiate|call):/, '')
  return bare === 'result' || bare === 'guest-failure' || KNOWN_CODES.has(bare)
}

async function main() {
  const { count, seed, jobs } = args()
  const bin = wasmTools()
  writeShapes(bin)
  const bases = { component: readFileSync(join(root, 'build', 'guests', 'test-component', 'wasi.wasm')) }
  console.log(`[fuzz] ${count} cases, seed ${seed}, ${jobs} lanes, wasm-tools ${WASM_TOOLS_VERSION}`)
  const table = {}
  const failures = []
  let skipped = 0
  let done = 0
  const started = Date.now()
  // Each lane has its own child and generates its next case while the current one runs.
  const lane = async (l) => {
    let worker = await startChild()
    const cases = []
    for (let i = l; i < count; i += jobs) cases.push(i)
    let ahead = cases.length ? generate(bin, seed, cases[0], bases, l) : null
    for (let k = 0; k < cases.length; k++) {
      const c = await ahead
      ahead = k + 1 < cases.length ? generate(bin, seed, cases[k + 1], bases, l) : null
      if (c) await runCase(worker, { ...c, i: cases[k] }).then((w) => (worker = w))
      else skipped++
      if (++done % 5000 === 0) {
        const rate = (done / ((Date.now() - started) / 1000)).toFixed(0)
        console.log(`[fuzz] ${done}/${count} cases (${rate}/s), ${failures.length} failures`)
      }
    }
    worker.child.kill()
  }
  /** Runs one case; returns the worker to use next (a new one if this one died or hung). */
  const runCase = async (worker, c) => {
    const { compiler, fs, instance } = choices(seed, c.i)
    const result = await worker.run({ i: c.i, bytes: c.bytes.toString('base64'), compiler, fs, instance: instance && c.kind !== 'mutated' })
    let outcomes = result.outcomes
    if (!outcomes) {
      outcomes = [result.hang ? 'hang' : `dead: ${result.dead}`]
      worker.child.kill('SIGKILL')
      worker = await startChild()
    }
    const row = (table[c.kind] ??= {})
    for (const o of outcomes) row[o] = (row[o] ?? 0) + 1
    const bad = outcomes.filter((o) => !isKnown(o))
    if (bad.length) {
      mkdirSync(join(out, 'failures'), { recursive: true })
      const name = `case-${seed}-${c.i}-${c.kind}`
      writeFileSync(join(out, 'failures', `${name}.wasm`), c.bytes)
      writeFileSync(join(out, 'failures', `${name}.txt`), `${bad.join('\n')}\n${result.stderr ?? ''}`)
      failures.push({ name, outcomes: bad })
      console.log(`[fuzz] FAILURE ${name}: ${bad.join('; ')}`)
    }
    return worker
  }
  await Promise.all(Array.from({ length: jobs }, (_, l) => lane(l)))
  const seconds = (Date.now() - started) / 1000
  const ran = count - skipped
  console.log(`\n[fuzz] ${ran} cases ran (${skipped} seeds generated nothing) in ${seconds.toFixed(0)} s, seed ${seed}`)
  console.log('kind       outcome                            count')
  for (const [kind, row] of Object.entries(table)) {
    for (const [o, n] of Object.entries(row).sort((a, b) => b[1] - a[1])) console.log(`${kind.padEnd(10)} ${o.padEnd(34)} ${n}`)
  }
  writeFileSync(join(out, 'report.json'), JSON.stringify({ count, ran, skipped, seed, seconds, table, failures }, null, 2))
  if (failures.length) {
    console.log(`\n[fuzz] ${failures.length} failures, kept under build/fuzz/failures/`)
    process.exit(1)
  }
  console.log('[fuzz] no failures')
}

await main()
