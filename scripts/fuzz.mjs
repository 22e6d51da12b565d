#!/usr/bin/env node
// npm run fuzz -- --count N [--seed S] [--jobs J] [--api M]
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
// Then M API-misuse cases (default: N/10 rounded up; 0: none; `--count 0` runs only these, and
// needs no wasm-tools): each a process of its own (scripts/fuzz-api.mjs) making one public call
// with hostile arguments; one that crashes, hangs, throws without an ERR_ code, leaves anything
// uncaught or keeps instances past close() is saved as a .txt with the line that replays it.
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
const API_CASE_TIMEOUT_MS = 20_000

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
    api: wholeNumberArg('--api', Math.ceil(wholeNumberArg('--count', 1000) / 10)),
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

/** Runs API-misuse case `i` in a process of its own: its events (JSON lines) and how it ended. */
function runApiCase(seed, i) {
  const hex = bytesFor(seed, i, 'api', 32).toString('hex')
  const argv = [join(root, 'scripts', 'fuzz-api.mjs'), String(seed), String(i), hex]
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...argv, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] })
    const events = []
    let partial = ''
    let stderr = ''
    let hung = false
    child.stdout.on('data', (d) => {
      const lines = (partial + d).split('\n')
      partial = lines.pop()
      for (const line of lines) {
        try {
          events.push(JSON.parse(line))
        } catch {
          events.push({ t: 'text', text: line })
        }
      }
    })
    child.stderr.on('data', (d) => {
      stderr = (stderr + d).slice(-4000)
    })
    const timer = setTimeout(() => {
      hung = true
      child.kill('SIGKILL')
    }, API_CASE_TIMEOUT_MS)
    let ended = false
    const end = (code, signal) => {
      if (ended) return
      ended = true
      clearTimeout(timer)
      resolve({ i, replay: `node scripts/fuzz-api.mjs ${argv.slice(1).join(' ')}`, code, signal, hung, events, stderr })
    }
    // 'close' waits for the output to be read; a grandchild holding the pipes does not hold us.
    child.on('exit', (code, signal) => setTimeout(() => end(code, signal), 2000).unref())
    child.on('close', end)
  })
}

/** What an API case's run amounts to: its method, its outcomes (for the table), its failures. */
function apiVerdict(r) {
  const plan = r.events.find((e) => e.t === 'plan')
  const done = r.events.find((e) => e.t === 'done')
  const started = new Map(r.events.filter((e) => e.t === 'step').map((e) => [e.n, e.text]))
  const results = r.events.filter((e) => e.t === 'result')
  for (const e of results) started.delete(e.n)
  const failures = [
    ...results.filter((e) => e.bad).map((e) => ({ kind: e.bad, text: `step ${e.n} (${stepText(r, e.n)}): ${e.outcome}` })),
    ...r.events.filter((e) => e.t === 'bad').map((e) => ({ kind: e.kind, text: e.text })),
  ]
  const unsettled = [...started].map(([n, text]) => `${n}. ${text}`).join('; ')
  if (r.hung) failures.push({ kind: 'hang', text: `no end within ${API_CASE_TIMEOUT_MS / 1000} s; running: ${unsettled || 'nothing (the process did not exit)'}` })
  else if (r.signal) failures.push({ kind: `dead: ${r.signal}`, text: `killed by ${r.signal}; running: ${unsettled || 'nothing'}` })
  else if (!done && !failures.some((f) => f.kind === 'never settled')) failures.push({ kind: `dead: exit ${r.code}`, text: `exited with code ${r.code} before the case ended; running: ${unsettled || 'nothing'}` })
  else if (r.code !== 0 && !done.failed) failures.push({ kind: `exit ${r.code}`, text: `exited with code ${r.code}` })
  const outcomes = failures.length ? [...new Set(failures.map((f) => f.kind))] : results.filter((e) => e.misuse).map((e) => e.outcome)
  return { method: plan ? plan.method : 'unknown', text: plan ? plan.text : '(no plan: the process died first)', outcomes, failures }
}
const stepText = (r, n) => r.events.find((e) => e.t === 'step' && e.n === n)?.text ?? ''

/** The API-misuse lane: `api` cases, `jobs` at a time, into `table` and `failures`. */
async function apiCases({ api, seed, jobs, table, failures }) {
  // The guests' compiled code cached first, with no case timeout (the componentize-js guest alone
  // compiles for longer than one on optimizing code); a cached run of it takes a second.
  console.log('[fuzz] API-misuse lane: compiling its guests into build/fuzz/api-cache')
  const warm = spawnSync(process.execPath, [join(root, 'scripts', 'fuzz-api.mjs'), '--warm'], { stdio: 'inherit' })
  if (warm.status !== 0) throw new Error(`scripts/fuzz-api.mjs --warm failed (${warm.signal || warm.status})`)
  let next = 0
  const lane = async () => {
    while (next < api) {
      const r = await runApiCase(seed, next++)
      const v = apiVerdict(r)
      const row = (table[`api:${v.method}`] ??= {})
      for (const o of v.outcomes) row[o] = (row[o] ?? 0) + 1
      if (!v.failures.length) continue
      mkdirSync(join(out, 'failures'), { recursive: true })
      const name = `api-${seed}-${r.i}-${v.method}`
      const steps = r.events.filter((e) => e.t === 'step').map((e) => {
        const res = r.events.find((x) => x.t === 'result' && x.n === e.n)
        return `  ${e.n}. ${e.text}\n     -> ${res ? res.outcome : '(never settled)'}`
      })
      writeFileSync(
        join(out, 'failures', `${name}.txt`),
        [
          `API-misuse case ${r.i} of seed ${seed}`,
          `call: ${v.text}`,
          `replay: ${r.replay}`,
          `   (or the whole lane: node scripts/fuzz.mjs --count 0 --api ${api} --seed ${seed})`,
          'failures:',
          ...v.failures.map((f) => `  [${f.kind}] ${f.text}`),
          'steps:',
          ...steps,
          'stderr (last 4000 characters):',
          r.stderr,
        ].join('\n'),
      )
      failures.push({ name, outcomes: v.failures.map((f) => `[${f.kind}] ${f.text}`) })
      console.log(`[fuzz] FAILURE ${name}: ${v.failures.map((f) => f.kind).join('; ')}\n        ${v.text.slice(0, 300)}`)
    }
  }
  await Promise.all(Array.from({ length: jobs }, lane))
}

async function main() {
  const { count, seed, jobs, api } = args()
  mkdirSync(out, { recursive: true })
  // wasm-tools and the shapes are for the generated cases only.
  const bin = count > 0 ? wasmTools() : null
  if (bin) writeShapes(bin)
  const bases = bin && { component: readFileSync(join(root, 'build', 'guests', 'test-component', 'wasi.wasm')) }
  const tools = bin ? `, wasm-tools ${WASM_TOOLS_VERSION}` : ''
  console.log(`[fuzz] ${count} cases${api ? ` + ${api} API-misuse cases` : ''}, seed ${seed}, ${jobs} lanes${tools}`)
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
  if (count > 0) await Promise.all(Array.from({ length: jobs }, (_, l) => lane(l)))
  if (api > 0) await apiCases({ api, seed, jobs, table, failures })
  const seconds = (Date.now() - started) / 1000
  const ran = count - skipped
  const apiRan = api ? `, ${api} API-misuse cases` : ''
  console.log(`\n[fuzz] ${ran} cases ran (${skipped} seeds generated nothing)${apiRan} in ${seconds.toFixed(0)} s, seed ${seed}`)
  const width = Math.max(10, ...Object.keys(table).map((k) => k.length))
  console.log(`${'kind'.padEnd(width)} outcome                            count`)
  for (const [kind, row] of Object.entries(table)) {
    for (const [o, n] of Object.entries(row).sort((a, b) => b[1] - a[1])) console.log(`${kind.padEnd(width)} ${o.padEnd(34)} ${n}`)
  }
  writeFileSync(join(out, 'report.json'), JSON.stringify({ count, ran, skipped, api, seed, seconds, table, failures }, null, 2))
  if (failures.length) {
    console.log(`\n[fuzz] ${failures.length} failures, kept under build/fuzz/failures/`)
    process.exit(1)
  }
  console.log('[fuzz] no failures')
}

await main()
