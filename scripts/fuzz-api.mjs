#!/usr/bin/env node
// node scripts/fuzz-api.mjs SEED CASE HEX [--json]
// node scripts/fuzz-api.mjs --warm   (fills build/fuzz/api-cache: fuzz.mjs runs it first, as the
//                                     componentize-js guest takes longer than a case to compile)
//
// One case of the API-misuse lane of `npm run fuzz -- --api N` (scripts/fuzz.mjs spawns this file
// once per case, so that a crash, an abort or a hang of the process is caught there). HEX are the
// case's random bytes (fuzz.mjs derives them from seed and case with bytesFor), so the same
// command line replays the case. The case, all drawn before anything runs:
//   - a WasmRuntime (require('../index.js')) with a guest: echo.wat, a core module with JavaScript
//     imports, or the typed world's componentize-js / C components (build/guests/typed), with
//     its imports answering normally or with something hostile (a `then` getter that throws, a
//     Proxy whose traps throw, a reentrant close, ...);
//   - one public call (constructor, loadModule, loadPrecompiled, precompile, executeProbe,
//     executeProbeSync, invoke, instantiate, instance call/callSync/invoke/dispose, stats, close)
//     with each argument valid or hostile: option objects with unknown keys or wrong types,
//     throwing or changing getters, Proxies, odd numbers, sparse / cyclic / 2^30-leaf arrays,
//     detached buffers, other typed arrays, 10 MiB strings, symbols, BigInts, functions, aborted
//     signals, ...; made plainly, twice concurrently, during or after close / dispose;
//   - sometimes with Object.prototype polluted (capabilities, fs, limits, timeoutMs) for the call.
// It passes when every call returns or resolves, or throws or rejects an Error whose `code`
// starts with ERR_ (ERR_WASM_HOST saying 'panicked' or 'internal error' does not count), or
// rethrows untouched an error this harness threw itself (from a getter, a trap, an import);
// nothing is uncaught or unhandled; a plain execution still works afterwards; after close()
// stats().instances is 0; and the process ends on its own with exit code 0.
// Every event is written synchronously (JSON lines with --json, for fuzz.mjs), so a case that
// kills or blocks the process leaves the step it was in.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isDeepStrictEqual } from 'node:util'

const require = createRequire(import.meta.url)
const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const { WasmRuntime, WasmModule } = require('../index.js')

const json = process.argv.includes('--json')
const warm = process.argv.includes('--warm')
const [seedArg, caseArg, hex] = process.argv.slice(2).filter((a) => a !== '--json')
const CACHE_DIR = join(root, 'build', 'fuzz', 'api-cache')
if (!warm && !/^[0-9a-f]{32,}$/i.test(hex ?? '')) {
  console.error('usage: node scripts/fuzz-api.mjs SEED CASE HEX [--json]   (fuzz.mjs prints the line of a failing case)')
  process.exit(64)
}

// ---------------------------------------------------------------------------------------------
// Reporting

let stepCount = 0
const pending = new Map() // step number -> text, while it runs
let finished = false
let failed = false

/** Writes one event now (synchronously: the next instruction may kill the process). */
function emit(event) {
  let line
  if (json) line = JSON.stringify(event)
  else if (event.t === 'plan') line = `[fuzz-api] seed ${event.seed} case ${event.i}: ${event.text}`
  else if (event.t === 'step') line = `  ${event.n}. ${event.text}`
  else if (event.t === 'result') line = `     ${event.n} -> ${event.bad ? 'FAIL ' : ''}${event.outcome}`
  else if (event.t === 'bad') line = `  FAIL [${event.kind}] ${event.text}`
  else line = `[fuzz-api] ${event.t}${failed ? ': FAILED' : ': passed'}`
  const bytes = Buffer.from(`${line}\n`)
  for (let off = 0; off < bytes.length; ) {
    try {
      off += writeSync(1, bytes, off)
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e // a full pipe: the parent is reading, try again
    }
  }
}

/** A failure not tied to one call's outcome: kind is its short class, for the summary. */
function fail(kind, text) {
  failed = true
  emit({ t: 'bad', kind, text })
}

/** A line of anything (an error, a proxy, a symbol) that cannot throw. */
function show(value) {
  try {
    if (value instanceof Error) {
      const code = typeof value.code === 'string' ? ` [${value.code}]` : ''
      return `${value.name}${code}: ${String(value.message).split('\n')[0].slice(0, 200)}`
    }
    if (typeof value === 'symbol' || typeof value === 'bigint') return `${typeof value} ${String(value)}`
    if (typeof value === 'object' && value !== null) return `an object (${Object.prototype.toString.call(value)})`
    return `${typeof value} ${String(value).slice(0, 60)}`
  } catch {
    return 'a value that cannot be shown'
  }
}

process.on('uncaughtException', (e) => fail('uncaught exception', show(e)))
process.on('unhandledRejection', (e) => fail('unhandled rejection', show(e)))
process.on('exit', (code) => {
  if (finished) return
  // Node ends a process whose event loop is empty while the top-level await still waits: a
  // promise of the API that never settles and holds nothing alive.
  const open = [...pending].map(([n, text]) => `${n}. ${text}`).join('; ')
  fail('never settled', `the process exited (code ${code}) before the case ended; unsettled: ${open || 'none'}`)
})

// ---------------------------------------------------------------------------------------------
// Deterministic choices: sfc32 seeded with the case's bytes

function rngFrom(bytes) {
  let [a, b, c, d] = [0, 4, 8, 12].map((k) => bytes.readUInt32LE(k))
  const next = () => {
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return (t >>> 0) / 4294967296
  }
  for (let k = 0; k < 15; k++) next()
  const r = {
    int: (n) => Math.floor(next() * n),
    chance: (p) => next() < p,
    pick: (xs) => xs[r.int(xs.length)],
    /** One of [[weight, value], ...]. */
    weighted: (pairs) => {
      let x = next() * pairs.reduce((s, [w]) => s + w, 0)
      for (const [w, value] of pairs) if ((x -= w) < 0) return value
      return pairs[pairs.length - 1][1]
    },
  }
  return r
}

// ---------------------------------------------------------------------------------------------
// Guests

const API = 'test:typed/api@0.1.0#'
const EDITOR = 'test:typed/editor@0.1.0'
const ECHO = join(root, '__test__', 'guests', 'echo.wat')
const TYPED_C = join(root, 'build', 'guests', 'typed', 'typed-c.wasm')
const ENV_WAT = `(module
  (import "env" "add" (func $add (param i32 i32) (result i32)))
  (import "env" "wide" (func $wide (param i64) (result i64)))
  (import "probe" "output_write" (func $out (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "sum") (param i32 i32) (result i32) (call $add (local.get 0) (local.get 1)))
  (func (export "twice") (param i64) (result i64) (call $wide (local.get 0)))
  (func (export "execute") (result i32)
    (i32.store8 (i32.const 0) (i32.add (i32.const 48) (call $add (i32.const 2) (i32.const 3))))
    (drop (call $wide (i64.const 1)))
    (call $out (i32.const 0) (i32.const 1))
    (i32.const 0)))`

const everything = () => ({
  flag: true, small: -128, byte: 255, short: -32768, ushort: 65535, int: -2147483648, uint: 4294967295,
  big: -(2n ** 63n), ubig: 2n ** 64n - 1n, ratio: 1.5, precise: Math.PI, letter: '€', text: 'héllo',
  bytes: new Uint8Array([0, 1, 254, 255]), points: [{ x: 1, y: -2 }], pair: ['a', 7], color: 'blue-ish',
  perms: { read: true, write: false, execAll: true }, shape: { tag: 'rect', val: { x: 2, y: 3 } },
  maybe: 'present', nested: { tag: 'some', val: undefined }, outcome: { tag: 'err', val: 'bad' },
})

// [function, valid arguments, whether it calls a JavaScript import]
const TYPED_FUNCTIONS = [
  ['hello', () => ['fuzz'], false],
  [`${API}echo`, () => [everything()], false],
  [`${API}add`, () => [-5n, 7n], false],
  [`${API}translate`, () => [[{ x: 1, y: 2 }], 3], false],
  [`${API}pick`, () => ['blue-ish', { read: true, write: false, execAll: true }], false],
  [`${API}bytes-len`, () => [new Uint8Array([1, 2, 3])], false],
  [`${API}maybe-double`, () => [4], false],
  [`${API}line-via-editor`, () => ['a.ts', 7], true],
  [`${API}read-via-editor`, () => ['x.ts'], true],
  [`${API}offset-via-editor`, () => [3, 9], true],
  [`${API}notify`, () => ['saved'], true],
]

const GUESTS = {
  echo: { desc: 'echo.wat', source: () => ECHO, imports: null, functions: [['execute', () => [], false]] },
  env: {
    desc: 'a core module importing env.add/env.wide',
    source: () => ENV_WAT,
    imports: { env: ['add', 'wide'] },
    functions: [['sum', () => [40, 2], true], ['twice', () => [2n ** 40n], true], ['execute', () => [], true]],
  },
  typed: { desc: 'typed.wasm (componentize-js)', source: () => join(root, 'build', 'guests', 'typed', 'typed.wasm'), imports: { [EDITOR]: ['get-line', 'show-message', 'read-document', 'offset-at'] }, functions: TYPED_FUNCTIONS },
  'typed-c': { desc: 'typed-c.wasm (C)', source: () => TYPED_C, imports: { [EDITOR]: ['get-line', 'show-message', 'read-document', 'offset-at'] }, functions: TYPED_FUNCTIONS },
}

const tick = (ms) => new Promise((r) => setTimeout(r, ms))

/** The guests' imports answering as they should (the async ones a little later). */
const NORMAL_IMPORTS = {
  env: { add: () => (a, b) => a + b, wide: () => async (n) => (await tick(5), n * 2n) },
  [EDITOR]: {
    'get-line': () => (uri, line) => `${uri}:${line}`,
    'show-message': () => () => {},
    'read-document': () => async (uri) => (await tick(5), `contents of ${uri}`),
    'offset-at': () => (pos) => pos.line * 100 + pos.character,
  },
}

// ---------------------------------------------------------------------------------------------
// Hostile values. A spec is { desc, make(c) }: drawn (with its parameters) when the case is
// planned, made fresh right before the call. `needs` names what setup must prepare for it.

const spec = (desc, make, needs) => ({ desc, make, needs })

const KNOWN_KEYS = [
  'workerThreads', 'cacheDir', 'limits', 'http', 'log', 'compiler', 'inline', 'maxInstances', 'maxQueued',
  'maxTotalMemoryBytes', 'name', 'imports', 'target', 'export', 'capabilities', 'signal', 'onLog', 'onEvent',
  'label', 'timeouts', 'restart', 'onStateChange', 'timeoutMs', 'operation', 'memoryBytes', 'stackBytes',
  'tableElements', 'fuel', 'openFiles', 'allow', 'preopens', 'hostPath', 'guestPath', 'env', 'args', 'fs',
]
const TRAPS = ['get', 'has', 'ownKeys', 'getOwnPropertyDescriptor', 'getPrototypeOf', 'set', 'defineProperty', 'deleteProperty', 'apply', 'construct']

function throwingProxy(c, target = {}) {
  const handler = {}
  for (const trap of TRAPS) handler[trap] = () => { throw c.sentinel(`a Proxy ${trap} trap`) }
  return new Proxy(target, handler)
}

/** A Proxy of `target` whose reads and key lists alternate between the target's and `other`. */
function changingProxy(target, other) {
  let reads = 0
  return new Proxy(target, {
    get: (t, k) => (typeof k === 'string' && reads++ % 2 === 1 ? other : Reflect.get(t, k)),
    ownKeys: (t) => (reads++ % 2 === 1 ? [...Reflect.ownKeys(t), 'bogus'] : Reflect.ownKeys(t)),
    getOwnPropertyDescriptor: (t, k) =>
      k === 'bogus' && !Object.hasOwn(t, k) ? { value: other, enumerable: true, configurable: true, writable: true } : Reflect.getOwnPropertyDescriptor(t, k),
  })
}

function withGetters(keys, get) {
  const o = {}
  for (const k of keys) Object.defineProperty(o, k, { get: () => get(k), enumerable: true, configurable: true })
  return o
}

function detachedBuffer() {
  const buf = new ArrayBuffer(64)
  structuredClone(buf, { transfer: [buf] })
  return buf
}

/** An 8-aligned copy of a real component's bytes, for views of every element type over it. */
function moduleBuffer() {
  const bytes = readFileSync(TYPED_C)
  const buf = new ArrayBuffer(Math.ceil(bytes.length / 8) * 8)
  new Uint8Array(buf).set(bytes)
  return buf
}

function dag() {
  let x = []
  for (let k = 0; k < 30; k++) x = [x, x]
  return x
}

const NUMBERS = [
  ['NaN', NaN], ['Infinity', Infinity], ['-Infinity', -Infinity], ['-0', -0], ['1e300', 1e300], ['2**53', 2 ** 53],
  ['2**53 + 2', 2 ** 53 + 2], ['-1', -1], ['-(2**31)', -(2 ** 31)], ['2**32', 2 ** 32], ['0.5', 0.5], ['Number.MIN_VALUE', Number.MIN_VALUE],
]

// Groups of equal weight, so that one with many members does not crowd out the rest.
const GENERIC = [
  (r) => { const [d, n] = r.pick(NUMBERS); return spec(d, () => n) },
  (r) => r.pick([spec('null', () => null), spec('true', () => true), spec("''", () => ''), spec("'fuzz'", () => 'fuzz')]),
  (r) => r.pick([spec("Symbol('fuzz')", () => Symbol('fuzz')), spec('2n ** 64n', () => 2n ** 64n), spec('-1n', () => -1n)]),
  (r) => r.pick([
    spec('() => {}', () => () => {}), spec('async () => {}', () => async () => {}), spec('class {}', () => class {}),
    spec('a Proxy of a function whose traps throw', (c) => throwingProxy(c, () => {})),
  ]),
  (r) => r.pick([spec('a 10 MiB string', () => 'a'.repeat(10 << 20)), spec("a 10 MiB string starting with '(' (WAT-looking)", () => `(${'a'.repeat(10 << 20)}`)]),
  (r) => r.pick([spec('new Array(2**32 - 1)', () => new Array(2 ** 32 - 1)), spec('[, , 1]', () => [, , 1])]),
  (r) => r.pick([
    spec('a cyclic object (a.self = a)', () => { const a = { fuzz: 1 }; a.self = a; return a }),
    spec('a cyclic array (a.push(a))', () => { const a = [1]; a.push(a); return a }),
  ]),
  () => spec('a 30-level DAG (x = [x, x])', dag),
  (r) => r.pick([
    spec('a detached ArrayBuffer', detachedBuffer),
    spec('a Uint8Array over a detached ArrayBuffer', () => { const buf = new ArrayBuffer(64); const view = new Uint8Array(buf); structuredClone(buf, { transfer: [buf] }); return view }),
  ]),
  (r) => r.pick([
    ...['Int8Array', 'Uint16Array', 'Int32Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'Uint8ClampedArray', 'DataView'].map((t) =>
      spec(`a ${t} over a component's bytes`, () => new globalThis[t](moduleBuffer())),
    ),
    spec('a Uint8Array over a SharedArrayBuffer', () => { const b = new Uint8Array(new SharedArrayBuffer(4096)); b.set(readFileSync(TYPED_C).subarray(0, 4096)); return b }),
  ]),
  () => spec('an object whose getters (every option name) throw', (c) => withGetters(KNOWN_KEYS, (k) => { throw c.sentinel(`the getter of ${k}`) })),
  () => spec('an object whose getters (every option name) answer 1000, then "bogus", ...', () => {
    let n = 0
    return withGetters(KNOWN_KEYS, () => (n++ % 2 ? 'bogus' : 1000))
  }),
  () => spec('a Proxy whose traps throw', (c) => throwingProxy(c)),
  () => spec('a Proxy whose answers change on each read', () => changingProxy({ timeoutMs: 100 }, 'bogus')),
  (r) => {
    const ms = r.int(30)
    return r.pick([
      spec('AbortSignal.abort()', () => AbortSignal.abort()),
      spec('AbortSignal.abort(42)', () => AbortSignal.abort(42)),
      spec(`a signal aborted after ${ms} ms`, () => { const ac = new AbortController(); setTimeout(() => ac.abort(), ms); return ac.signal }),
      spec(`a signal aborted with a Symbol reason after ${ms} ms`, () => { const ac = new AbortController(); setTimeout(() => ac.abort(Symbol('why')), ms); return ac.signal }),
      spec('AbortSignal.timeout(1)', () => AbortSignal.timeout(1)),
      spec('a fake signal { aborted: false, addEventListener() {} }', () => ({ aborted: false, addEventListener() {} })),
    ])
  },
  (r) => r.pick([
    spec('Object.create(null)', () => Object.create(null)), spec('[]', () => []), spec('new Date(NaN)', () => new Date(NaN)),
    spec('new Map()', () => new Map()), spec('/re/', () => /re/), spec('{ bogus: 1 }', () => ({ bogus: 1 })),
    spec('an object with a Symbol key', () => ({ [Symbol('k')]: 1 })),
    spec('an object whose Symbol.toPrimitive throws', (c) => ({ [Symbol.toPrimitive]() { throw c.sentinel('Symbol.toPrimitive') } })),
    spec('Object.create(WasmModule.prototype)', () => Object.create(WasmModule.prototype)),
  ]),
]
const generic = (r) => r.pick(GENERIC)(r)

// ---------------------------------------------------------------------------------------------
// Hostile answers of JavaScript imports: each spec makes the function every import is bound to.

const ANSWERS = [
  spec('an object whose then getter throws', (c) => () => ({ get then() { throw c.sentinel('a then getter') } })),
  spec('a promise of an object whose then getter throws', (c) => async () => ({ get then() { throw c.sentinel('a then getter') } })),
  spec('a Proxy whose traps throw', (c) => () => throwingProxy(c)),
  spec('a throw of an Error whose message getter throws', (c) => () => {
    const e = new Error('fuzz')
    Object.defineProperty(e, 'message', { get() { throw c.sentinel('a message getter') } })
    throw e
  }),
  spec('a throw of an object whose payload getter throws', (c) => () => { throw { get payload() { throw c.sentinel('a payload getter') } } }),
  spec('a throw of a Proxy whose traps throw', (c) => () => { throw throwingProxy(c) }),
  spec('a rejection with undefined', () => () => Promise.reject(undefined)),
  spec("a throw of Symbol('fuzz')", () => () => { throw Symbol('fuzz') }),
  spec('a cyclic object', () => () => { const a = {}; a.self = a; return a }),
  spec('a 30-level DAG', () => dag),
  spec('2n ** 64n', () => () => 2n ** 64n),
  spec("Symbol('fuzz')", () => () => Symbol('fuzz')),
  spec('a 10 MiB string', () => () => 'a'.repeat(10 << 20)),
  spec('new Array(2**32 - 1)', () => () => new Array(2 ** 32 - 1)),
  spec('a thenable that resolves twice and rejects', () => () => ({ then(resolve, reject) { resolve('a'); resolve('b'); reject(new Error('late')) } })),
  spec('a normal answer after rt.close() (reentrant)', (c) => (...args) => { c.background.push(c.closeMain('rt.close() from inside a JS import')); return normalAnswer(args) }),
  spec('a normal answer after rt.executeProbeSync (reentrant)', (c) => (...args) => {
    c.background.push(run('rt.executeProbeSync(echo, 1) from inside a JS import', () => c.rt.executeProbeSync(c.echo, 1)))
    return normalAnswer(args)
  }),
]
// What an import answers when it has to answer something plausible.
const normalAnswer = (args) => (typeof args[0] === 'bigint' ? args[0] : typeof args[0] === 'number' ? 1 : 'fuzz')

function importTable(c, guest, answer) {
  if (!guest.imports) return undefined
  const table = {}
  for (const [module, names] of Object.entries(guest.imports)) {
    table[module] = {}
    for (const name of names) table[module][name] = answer ? answer.make(c) : NORMAL_IMPORTS[module][name]()
  }
  return table
}

// ---------------------------------------------------------------------------------------------
// Arguments by role: a valid value, and hostile ones (mutations of the valid value for options)

const HOST_TARGET = { 'linux:x64': 'x86_64-unknown-linux-gnu', 'linux:arm64': 'aarch64-unknown-linux-gnu', 'darwin:arm64': 'aarch64-apple-darwin', 'darwin:x64': 'x86_64-apple-darwin' }[`${process.platform}:${process.arch}`]

const capabilities = (c) => ({
  http: { allow: ['http://127.0.0.1:9'], maxConcurrent: 1, maxResponseBytes: 1024, timeoutMs: 100 },
  fs: { preopens: [{ hostPath: c.dir, guestPath: '/data', readonly: true }] },
  env: { FUZZ: '1' },
  args: ['fuzz'],
})
const listeners = () => ({ onLog: () => {}, onEvent: () => {} })

/** Valid option objects, by role; `c.importTable` is the guest's imports (undefined if none). */
const VALID_OPTIONS = {
  runtime: (c, plan) => ({
    cacheDir: c.cacheDir, compiler: plan.compiler, inline: plan.inline, workerThreads: 2,
    limits: { timeoutMs: 5000, memoryBytes: 64 << 20, stackBytes: 1 << 20, tableElements: 20000, fuel: 1e10, openFiles: 16 },
    maxInstances: 16, maxQueued: 256, maxTotalMemoryBytes: 1 << 30, http: async () => ({ status: 200, headers: [], body: '' }), log: () => {},
  }),
  load: (c) => ({ name: 'fuzz', ...(c.importTable && { imports: c.importTable }) }),
  precompile: () => (HOST_TARGET ? { target: HOST_TARGET } : {}),
  execute: (c) => ({
    export: 'execute', limits: { timeoutMs: 3000, memoryBytes: 64 << 20 }, capabilities: capabilities(c), signal: new AbortController().signal,
    ...listeners(), label: 'fuzz', ...(c.importTable && { imports: c.importTable }),
  }),
  invoke: (c) => {
    const { export: _, ...o } = VALID_OPTIONS.execute(c)
    return o
  },
  sync: () => ({ timeoutMs: 500, limits: { memoryBytes: 64 << 20, fuel: 1e10 }, label: 'fuzz', export: 'execute' }),
  callSync: () => ({ timeoutMs: 500, label: 'fuzz' }),
  instance: (c) => ({
    limits: { timeoutMs: 3000, memoryBytes: 64 << 20 }, capabilities: capabilities(c), signal: new AbortController().signal, ...listeners(), label: 'fuzz',
    timeouts: { activation: 5000, command: 3000, hover: 500 }, restart: { maxFailures: 3, windowMs: 1000, backoffMs: 10, maxBackoffMs: 100, maxTimeouts: 2 },
    onStateChange: () => {}, ...(c.importTable && { imports: c.importTable }),
  }),
  call: () => ({ timeoutMs: 3000, operation: 'command', signal: new AbortController().signal, ...listeners() }),
}

const plainish = (v) => v !== null && typeof v === 'object' && (Array.isArray(v) || Object.getPrototypeOf(v) === Object.prototype)

/** Every key path in a valid option object (into nested plain objects and arrays). */
function keyPaths(value, prefix = []) {
  if (!plainish(value)) return []
  return Object.keys(value).flatMap((k) => [[...prefix, k], ...keyPaths(value[k], [...prefix, k])])
}

const shown = (path) => path.map((k) => (/^\d+$/.test(k) ? `[${k}]` : /^[\w$]+$/.test(k) ? `.${k}` : `['${k}']`)).join('').replace(/^\./, '')

/** A hostile spec for an option role: a mutation of its valid object, or a generic value. */
function hostileOptions(r, c, plan, role) {
  if (r.chance(0.3)) return generic(r)
  const paths = keyPaths(VALID_OPTIONS[role](c, plan))
  const path = r.pick(paths)
  const v = generic(r)
  const at = shown(path)
  const kind = r.weighted([[4, 'replace'], [2, 'throwing getter'], [2, 'changing getter'], [2, 'unknown key'], [1, 'removed'], [2, 'proxied']])
  const first = r.chance(0.5) // for a changing getter: whether its first read is the valid value
  const unknown = r.pick(['bogus', '__proto__', 'constructor', 'TimeoutMs', ''])
  const desc = {
    replace: `${at} = ${v.desc}`,
    'throwing getter': `${at} read through a getter that throws`,
    'changing getter': `${at} read through a getter alternating ${first ? `the valid value and ${v.desc}` : `${v.desc} and the valid value`}`,
    'unknown key': `an unknown key '${unknown}' = ${v.desc} beside ${at}`,
    removed: `${at} removed`,
    proxied: `the object holding ${at} behind a Proxy answering ${v.desc} on every other read`,
  }[kind]
  return spec(`${role} options with ${desc}`, (c2) => {
    const root = VALID_OPTIONS[role](c2, plan)
    let parent = root
    for (const k of path.slice(0, -1)) parent = parent[k]
    const key = path[path.length - 1]
    if (kind === 'replace') parent[key] = v.make(c2)
    if (kind === 'removed') delete parent[key]
    if (kind === 'unknown key') Object.defineProperty(parent, unknown, { value: v.make(c2), enumerable: true, configurable: true, writable: true })
    if (kind === 'throwing getter') Object.defineProperty(parent, key, { get: () => { throw c2.sentinel(`the getter of ${at}`) }, enumerable: true, configurable: true })
    if (kind === 'changing getter') {
      const valid = parent[key]
      const other = v.make(c2)
      let reads = first ? 0 : 1
      Object.defineProperty(parent, key, { get: () => (reads++ % 2 === 0 ? valid : other), enumerable: true, configurable: true })
    }
    if (kind === 'proxied') {
      const proxy = changingProxy(parent, v.make(c2))
      if (path.length === 1) return proxy
      let grand = root
      for (const k of path.slice(0, -2)) grand = grand[k]
      grand[path[path.length - 2]] = proxy
    }
    return root
  })
}

const NAMES = ['', 'nonexistent', 'memory', API, '#', `${API}make-counter`, '[constructor]counter', `${API}counter.next`, 'a\0b', 'execute', 'hello', '_start']

/** Valid and hostile specs of every argument role but options. */
const ROLES = {
  source: {
    valid: (r, plan) => {
      const guest = GUESTS[plan.guest]
      if (plan.guest === 'typed-c' && r.chance(0.5)) {
        return r.chance(0.5)
          ? spec('the bytes of typed-c.wasm', () => new Uint8Array(readFileSync(TYPED_C)))
          : spec('an ArrayBuffer of typed-c.wasm', () => { const b = readFileSync(TYPED_C); return b.buffer.slice(b.byteOffset, b.byteOffset + b.length) })
      }
      return spec(plan.guest === 'env' ? 'WAT text importing env.add/env.wide' : `the path of ${guest.desc}`, guest.source)
    },
    hostile: (r) => {
      const noise = Buffer.from(Array.from({ length: 64 }, () => r.int(256)))
      return r.pick([
        spec(`the path of a directory (${root})`, () => root), spec('a missing path', () => '/nonexistent/fuzz.wasm'), spec('/dev/null', () => '/dev/null'),
        spec("the path 'a\\0b'", () => 'a\0b'), spec(`64 random bytes (${noise.toString('hex').slice(0, 16)}...)`, () => new Uint8Array(noise)),
        spec('the wasm header alone', () => new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])),
        spec('a component header alone', () => new Uint8Array([0, 97, 115, 109, 13, 0, 1, 0])),
        spec('invalid WAT (an i32 result never produced)', () => '(module (func (export "execute") (result i32)))'),
        spec('WAT importing nope.f', () => '(module (import "nope" "f" (func)))'),
        spec('WAT with a 65536-page memory', () => '(module (memory (export "memory") 65536))'),
        spec('a precompiled artifact', (c) => c.artifact, 'artifact'),
      ])
    },
  },
  artifact: {
    valid: (r) => (r.chance(0.5) ? spec('the artifact of echo.wat', (c) => c.artifact, 'artifact') : spec('the path of the artifact of echo.wat', (c) => c.artifactPath, 'artifact')),
    hostile: (r) => {
      const at = r.int(1 << 30)
      return r.pick([
        spec(`the artifact with byte ${at} (mod length) flipped`, (c) => { const b = new Uint8Array(c.artifact); b[at % b.length] ^= 0xff; return b }, 'artifact'),
        spec(`the artifact cut at ${at} (mod length)`, (c) => c.artifact.slice(0, at % c.artifact.length), 'artifact'),
        spec('the path of a cut-short artifact file', (c) => { const p = join(c.dir, 'cut.cwasm'); writeFileSync(p, c.artifact.subarray(0, c.artifact.length >> 1)); return p }, 'artifact'),
        spec('the wasm bytes of typed-c.wasm', () => new Uint8Array(readFileSync(TYPED_C))),
        spec('WAT text', () => '(module)'),
        spec('the path of echo.wat', () => ECHO),
      ])
    },
  },
  module: {
    valid: (r, plan) => spec(`<${GUESTS[plan.guest].desc}>`, (c) => c.module),
    hostile: (r) => r.pick([
      spec('Object.create(WasmModule.prototype)', () => Object.create(WasmModule.prototype)),
      spec('a Proxy of a loaded module', (c) => new Proxy(c.echo, {})),
      spec('Object.setPrototypeOf({}, WasmModule.prototype)', () => Object.setPrototypeOf({}, WasmModule.prototype)),
      spec('a module of another (live) runtime', (c) => c.otherModule, 'other'),
      spec('a module of a closed runtime', (c) => c.closedModule, 'closed'),
      spec('the WasmModule class', () => WasmModule),
    ]),
  },
  input: {
    valid: (r, plan) => spec(`{ points: [{ x: 1, y: 2 }], dx: 1, fuzz: ${plan.i} }`, () => ({ points: [{ x: 1, y: 2 }], dx: 1, fuzz: plan.i })),
    hostile: (r) => r.pick([
      spec('an object whose toJSON throws', (c) => ({ toJSON() { throw c.sentinel('toJSON') } })),
      spec('an object whose toJSON answers 1, then a cyclic object', () => { let n = 0; return { toJSON: () => (n++ % 2 ? (() => { const a = {}; a.a = a; return a })() : 1) } }),
      spec('{ n: 1n }', () => ({ n: 1n })),
    ]),
  },
  name: {
    valid: (r, plan) => spec(`'${plan.fn[0]}'`, () => plan.fn[0]),
    hostile: (r) => { const n = r.pick(NAMES); return spec(JSON.stringify(n), () => n) },
  },
  exportName: {
    valid: () => spec("'execute'", () => 'execute'),
    hostile: (r) => { const n = r.pick(NAMES); return spec(JSON.stringify(n), () => n) },
  },
  args: {
    valid: (r, plan) => spec(`the arguments of ${plan.fn[0]}`, () => plan.fn[1]()),
    hostile: (r, plan) => {
      const v = generic(r)
      const k = r.int(Math.max(1, plan.fn[1]().length))
      return r.pick([
        spec(`its arguments with [${k}] = ${v.desc}`, (c) => { const a = plan.fn[1](); a[k] = v.make(c); return a }),
        spec(`its arguments and 5 more: ${v.desc}`, (c) => [...plan.fn[1](), ...Array.from({ length: 5 }, () => v.make(c))]),
        spec('its arguments behind a Proxy whose traps throw', (c) => throwingProxy(c, plan.fn[1]())),
        spec('its arguments behind a Proxy whose length is 2**32 - 1 on every other read', () => {
          let n = 0
          return new Proxy(plan.fn[1](), { get: (t, key) => (key === 'length' && n++ % 2 ? 2 ** 32 - 1 : Reflect.get(t, key)) })
        }),
      ])
    },
  },
}

// ---------------------------------------------------------------------------------------------
// The calls

// method: [weight, argument roles ('options:<kind>' for option objects), timings]
const RUNTIME_TIMINGS = [[6, 'plain'], [2, 'twice concurrently'], [2, 'during close'], [1, 'after close']]
const SYNC_TIMINGS = [[6, 'plain'], [2, 'with a call in flight'], [2, 'during close'], [1, 'after close']]
const INSTANCE_TIMINGS = [[6, 'plain'], [2, 'twice concurrently'], [1, 'during dispose'], [1, 'after dispose'], [1, 'during close'], [1, 'after close']]
const METHODS = {
  constructor: [2, ['options:runtime'], [[1, 'plain']]],
  loadModule: [2, ['source', 'options:load'], RUNTIME_TIMINGS],
  loadPrecompiled: [1, ['artifact', 'options:load'], RUNTIME_TIMINGS],
  precompile: [1, ['source', 'options:precompile'], RUNTIME_TIMINGS],
  executeProbe: [3, ['module', 'input', 'options:execute'], RUNTIME_TIMINGS],
  executeProbeSync: [2, ['module', 'input', 'options:sync'], SYNC_TIMINGS],
  invoke: [3, ['module', 'name', 'args', 'options:invoke'], RUNTIME_TIMINGS],
  instantiate: [2, ['module', 'options:instance'], RUNTIME_TIMINGS],
  'instance.call': [2, ['exportName', 'input', 'options:call'], INSTANCE_TIMINGS],
  'instance.callSync': [1, ['exportName', 'input', 'options:callSync'], SYNC_TIMINGS],
  'instance.invoke': [2, ['name', 'args', 'options:call'], INSTANCE_TIMINGS],
  'instance.dispose': [1, [], [[1, 'twice concurrently'], [1, 'during a call'], [1, 'then used'], [1, 'after close'], [1, 'during close']]],
  stats: [1, [], [[1, 'with calls in flight'], [1, 'during close'], [1, 'after close']]],
  close: [1, [], [[2, 'twice concurrently'], [2, 'twice concurrently with calls in flight'], [1, 'from inside a JS import'], [1, 'then used']]],
}

const POLLUTABLE = ['capabilities', 'fs', 'limits', 'timeoutMs']
const POLLUTION = [
  spec('{ fs: { preopens: [{ hostPath: "/", guestPath: "/" }] }, http: { allow: ["*"] } }', () => ({ fs: { preopens: [{ hostPath: '/', guestPath: '/' }] }, http: { allow: ['*'] } })),
  spec('{ preopens: [{ hostPath: "/", guestPath: "/", readonly: false }] }', () => ({ preopens: [{ hostPath: '/', guestPath: '/', readonly: false }] })),
  spec('{ timeoutMs: 1, memoryBytes: 2**53 }', () => ({ timeoutMs: 1, memoryBytes: 2 ** 53 })),
  { ...spec('a getter that throws', (c) => () => { throw c.sentinel('a polluted Object.prototype getter') }), getter: true },
]

/** The whole case, drawn from `r` before anything runs. */
function planCase(r, c) {
  const plan = { i: c.i }
  plan.method = r.weighted(Object.entries(METHODS).map(([m, [w]]) => [w, m]))
  const [, roles, timings] = METHODS[plan.method]
  plan.timing = r.weighted(timings)
  if (plan.timing === 'from inside a JS import') plan.guest = r.pick(['env', 'typed-c', 'typed'])
  else if (['loadPrecompiled'].includes(plan.method)) plan.guest = 'echo'
  else if (['loadModule', 'precompile'].includes(plan.method)) plan.guest = r.pick(['echo', 'env', 'typed-c'])
  else plan.guest = r.pick(['echo', 'env', 'typed-c', 'typed'])
  const guest = GUESTS[plan.guest]
  const callers = guest.functions.filter(([, , imports]) => imports)
  // Hostile import answers, most often where the call reaches an import.
  const reaches = ['invoke', 'instance.invoke', 'executeProbe', 'instance.call'].includes(plan.method) && callers.length > 0
  if (plan.timing === 'from inside a JS import') plan.answer = ANSWERS.find((a) => a.desc.includes('rt.close()'))
  // The `then` getters (the first two) weigh as much as all the rest.
  else if (guest.imports && r.chance(reaches ? 0.5 : 0.15)) plan.answer = r.chance(0.5) ? r.pick(ANSWERS.slice(0, 2)) : r.pick(ANSWERS.slice(2))
  plan.fn = plan.answer && callers.length ? r.pick(callers) : r.pick(guest.functions)
  plan.compiler = r.pick(['optimizing', 'baseline'])
  plan.inline = r.chance(0.5)
  c.importTable = importTable(c, guest, plan.answer)
  // Mostly one hostile argument (a second one is often refused first, hiding the other); none
  // mostly when the imports or the timing are the misuse, so that the call gets that far.
  const quiet = plan.answer || plan.timing !== 'plain'
  const many = roles.length === 0 || (quiet && r.chance(0.7)) ? 0 : r.chance(0.8) ? 1 : 2
  const hostile = roles.map(() => false)
  for (let k = 0; k < many; k++) hostile[r.int(roles.length)] = true
  plan.args = roles.map((role, k) => {
    if (role.startsWith('options:')) {
      const kind = role.slice(8)
      if (hostile[k]) return hostileOptions(r, c, plan, kind)
      return r.chance(0.2) ? spec('undefined', () => undefined) : spec(`valid ${kind} options`, (c2) => VALID_OPTIONS[kind](c2, plan))
    }
    if (!hostile[k]) return ROLES[role].valid(r, plan)
    return r.chance(0.5) ? generic(r) : ROLES[role].hostile(r, plan)
  })
  plan.pollution = r.chance(0.15) ? POLLUTABLE.filter(() => r.chance(0.5)).map((key) => ({ key, value: r.chance(0.7) ? r.pick(POLLUTION) : generic(r) })) : []
  plan.needs = new Set(plan.args.map((a) => a.needs).filter(Boolean))
  if (!['constructor', 'loadModule', 'loadPrecompiled', 'precompile'].includes(plan.method)) plan.needs.add('module')
  if (plan.method.startsWith('instance.')) plan.needs.add('instance')
  const receiver = plan.method === 'constructor' ? 'new WasmRuntime' : plan.method.startsWith('instance.') ? plan.method : `rt.${plan.method}`
  const extras = [
    `guest ${guest.desc}`,
    plan.answer && `its JS imports answer ${plan.answer.desc}`,
    plan.pollution.length && `Object.prototype polluted with ${plan.pollution.map((p) => `${p.key} = ${p.value.desc}`).join(', ')}`,
    `compiler ${plan.compiler}, inline ${plan.inline}`,
  ].filter(Boolean)
  plan.text = `${receiver}(${plan.args.map((a) => a.desc).join(', ')})${plan.timing === 'plain' ? '' : ` [${plan.timing}]`}; ${extras.join('; ')}`
  return plan
}

// ---------------------------------------------------------------------------------------------
// Running

/** What a settled call counts as: { outcome, bad }. */
function verdict(c, settled) {
  if (settled.ok) return { outcome: 'ok' }
  const e = settled.error
  if (c.sentinels.has(e)) return { outcome: 'propagated (the harness\'s own throw)' }
  try {
    if (!(e instanceof Error)) return { outcome: `rejected with a non-Error: ${show(e)}`, bad: 'not an Error' }
    const { code } = e
    const message = String(e.message)
    if (typeof code !== 'string' || !code.startsWith('ERR_')) return { outcome: `an Error without an ERR_ code: ${show(e)}`, bad: 'no ERR_ code' }
    if (code === 'ERR_WASM_HOST' && /panicked|internal error/.test(message)) return { outcome: show(e), bad: 'panic' }
    return { outcome: code }
  } catch (thrown) {
    return { outcome: `an error that throws when read: ${show(thrown)}`, bad: 'not an Error' }
  }
}

/** Runs one call as a numbered step; its verdict is reported; resolves with how it settled. */
async function run(text, fn, { setup = false, misuse = false } = {}) {
  const n = ++stepCount
  emit({ t: 'step', n, text })
  pending.set(n, text)
  let settled
  try {
    settled = { ok: true, value: await fn() }
  } catch (error) {
    settled = { ok: false, error }
  }
  pending.delete(n)
  const v = verdict(state, settled)
  if (setup && !settled.ok && !v.bad) v.bad = 'setup failed'
  if (v.bad) failed = true
  emit({ t: 'result', n, outcome: v.outcome, bad: v.bad || undefined, misuse: misuse || undefined })
  return settled
}

const state = {
  i: Number(caseArg),
  seed: seedArg,
  sentinels: new WeakSet(),
  background: [],
  runtimes: [],
  closed: false,
  sentinel(where) {
    const e = new Error(`thrown by the fuzz harness (${where})`)
    this.sentinels.add(e)
    return e
  },
  /** Closes the case's runtime as a step of its own (not awaited: it may run during a call). */
  closeMain(text = 'rt.close()') {
    this.closed = true
    return run(text, () => this.rt.close())
  },
}

async function setup(c, plan) {
  c.dir = mkdtempSync(join(tmpdir(), 'wasm-probe-fuzz-api-'))
  mkdirSync(join(c.dir, 'data'))
  const base = { cacheDir: c.cacheDir, compiler: plan.compiler, inline: plan.inline, limits: { timeoutMs: 5000 } }
  const made = await run(`setup: new WasmRuntime(${JSON.stringify(base)})`, () => new WasmRuntime(base), { setup: true })
  if (!made.ok) return false
  c.rt = made.value
  c.runtimes.push(['rt', c.rt])
  const step = async (text, fn) => {
    const s = await run(`setup: ${text}`, fn, { setup: true })
    if (!s.ok) throw new Error('setup failed')
    return s.value
  }
  try {
    c.echo = await step('rt.loadModule(echo.wat)', () => c.rt.loadModule(ECHO))
    const guest = GUESTS[plan.guest]
    if (plan.needs.has('module')) c.module = plan.guest === 'echo' ? c.echo : await step(`rt.loadModule(${guest.desc}, { imports })`, () => c.rt.loadModule(guest.source(), { imports: c.importTable }))
    if (plan.needs.has('instance')) {
      c.instance = await step(`rt.instantiate(${guest.desc}, { timeouts: { activation: 5000 } })`, () => c.rt.instantiate(c.module, { timeouts: { activation: 5000, command: 3000 } }))
    }
    if (plan.needs.has('artifact')) {
      c.artifact = await step('rt.precompile(echo.wat)', () => c.rt.precompile(ECHO))
      c.artifactPath = join(c.dir, 'echo.cwasm')
      writeFileSync(c.artifactPath, c.artifact)
    }
    if (plan.needs.has('other') || plan.needs.has('closed')) {
      const other = new WasmRuntime({ cacheDir: c.cacheDir })
      c.runtimes.push(['other', other])
      c.otherModule = await step('other.loadModule(echo.wat)', () => other.loadModule(ECHO))
      if (plan.needs.has('closed')) {
        const closed = new WasmRuntime({ cacheDir: c.cacheDir })
        c.runtimes.push(['closed', closed])
        c.closedModule = await step('closed.loadModule(echo.wat)', () => closed.loadModule(ECHO))
        await step('closed.close()', () => closed.close())
      }
    }
  } catch {
    return false
  }
  return true
}

function pollute(pollution) {
  for (const { key, value } of pollution) {
    const v = value.make(state)
    if (value.getter) Object.defineProperty(Object.prototype, key, { get: v, configurable: true, enumerable: true })
    else Object.defineProperty(Object.prototype, key, { value: v, configurable: true, enumerable: true, writable: true })
  }
}
const unpollute = () => {
  for (const key of POLLUTABLE) delete Object.prototype[key]
}

/** A call that is still running when the misuse happens. */
function inFlight(c) {
  if (c.instance) return run("instance.call('execute', 1) (in flight)", () => c.instance.call('execute', 1))
  return run('rt.executeProbe(echo, 1) (in flight)', () => c.rt.executeProbe(c.echo, 1))
}

/** The case's call with its arguments, as a function (made again for each repetition). */
function caller(c, plan, args) {
  const m = plan.method
  if (m === 'constructor') return () => {
    const rt = new WasmRuntime(...args)
    c.runtimes.push(['made', rt])
    c.made = rt
    return 'a runtime'
  }
  if (m.startsWith('instance.')) {
    const name = m.slice(9)
    return () => c.instance[name](...args)
  }
  return () => c.rt[m](...args)
}

async function misuse(c, plan) {
  const args = plan.args.map((a) => a.make(c))
  const call = caller(c, plan, args)
  const text = plan.text.split(';')[0]
  const go = (suffix = '') => run(`${text}${suffix}`, call, { misuse: true })
  pollute(plan.pollution)
  try {
    switch (`${plan.method}|${plan.timing}`) {
      case 'instance.dispose|twice concurrently':
        return await Promise.all([run('instance.dispose() (1 of 2)', () => c.instance.dispose(), { misuse: true }), run('instance.dispose() (2 of 2)', () => c.instance.dispose(), { misuse: true })])
      case 'instance.dispose|during a call': {
        const flying = inFlight(c)
        await run('instance.dispose()', () => c.instance.dispose(), { misuse: true })
        return await flying
      }
      case 'instance.dispose|then used':
        await run('instance.dispose()', () => c.instance.dispose(), { misuse: true })
        await run("instance.call('execute', 1)", () => c.instance.call('execute', 1), { misuse: true })
        await run("instance.callSync('execute', 1)", () => c.instance.callSync('execute', 1), { misuse: true })
        await run(`instance.invoke('${plan.fn[0]}')`, () => c.instance.invoke(plan.fn[0], plan.fn[1]()), { misuse: true })
        return await run('instance.dispose() again', () => c.instance.dispose(), { misuse: true })
      case 'instance.dispose|after close':
        await c.closeMain()
        return await run('instance.dispose()', () => c.instance.dispose(), { misuse: true })
      case 'instance.dispose|during close': {
        const closing = c.closeMain()
        await run('instance.dispose()', () => c.instance.dispose(), { misuse: true })
        return await closing
      }
      case 'stats|with calls in flight': {
        const flying = [inFlight(c), inFlight(c)]
        await run('rt.stats()', () => c.rt.stats(), { misuse: true })
        return await Promise.all(flying)
      }
      case 'stats|during close': {
        const closing = c.closeMain()
        await run('rt.stats()', () => c.rt.stats(), { misuse: true })
        return await closing
      }
      case 'stats|after close':
        await c.closeMain()
        return await run('rt.stats()', () => c.rt.stats(), { misuse: true })
      case 'close|twice concurrently':
        return await Promise.all([c.closeMain('rt.close() (1 of 2)'), c.closeMain('rt.close() (2 of 2)')])
      case 'close|twice concurrently with calls in flight': {
        const flying = [inFlight(c), inFlight(c), run(`rt.invoke(module, '${plan.fn[0]}') (in flight)`, () => c.rt.invoke(c.module, plan.fn[0], plan.fn[1]()))]
        await Promise.all([c.closeMain('rt.close() (1 of 2)'), c.closeMain('rt.close() (2 of 2)')])
        return await Promise.all(flying)
      }
      case 'close|from inside a JS import':
        // The imports close the runtime (plan.answer); a call that reaches one.
        return await run(`rt.invoke(module, '${plan.fn[0]}', ...)`, () => c.rt.invoke(c.module, plan.fn[0], plan.fn[1]()), { misuse: true })
      case 'close|then used':
        await c.closeMain()
        await run('rt.executeProbe(echo, 1)', () => c.rt.executeProbe(c.echo, 1), { misuse: true })
        await run('rt.executeProbeSync(echo, 1)', () => c.rt.executeProbeSync(c.echo, 1), { misuse: true })
        await run('rt.instantiate(echo)', () => c.rt.instantiate(c.echo), { misuse: true })
        await run('rt.loadModule(echo.wat)', () => c.rt.loadModule(ECHO), { misuse: true })
        return await run('rt.stats()', () => c.rt.stats(), { misuse: true })
    }
    switch (plan.timing) {
      case 'plain':
        return await go()
      case 'twice concurrently':
        return await Promise.all([go(' (1 of 2)'), go(' (2 of 2)')])
      case 'with a call in flight': {
        const flying = inFlight(c)
        await go()
        return await flying
      }
      case 'during close': {
        const closing = c.closeMain()
        await go()
        return await closing
      }
      case 'after close':
        await c.closeMain()
        return await go()
      case 'during dispose': {
        const disposing = run('instance.dispose()', () => c.instance.dispose())
        await go()
        return await disposing
      }
      case 'after dispose':
        await run('instance.dispose()', () => c.instance.dispose())
        return await go()
    }
    throw new Error(`no timing ${plan.timing}`)
  } finally {
    unpollute()
  }
}

/** Compiles every guest on both tiers into the cache, so that no case waits for a compiler. */
async function warmCache() {
  for (const compiler of ['optimizing', 'baseline']) {
    const rt = new WasmRuntime({ cacheDir: CACHE_DIR, compiler })
    for (const guest of Object.values(GUESTS)) await rt.loadModule(guest.source(), { imports: importTable(state, guest) })
    await rt.close()
  }
  finished = true
}

async function main() {
  const c = state
  c.cacheDir = CACHE_DIR
  const plan = planCase(rngFrom(Buffer.from(hex, 'hex')), c)
  emit({ t: 'plan', seed: c.seed, i: c.i, method: plan.method, timing: plan.timing, text: plan.text })
  if (plan.method === 'constructor') {
    c.dir = mkdtempSync(join(tmpdir(), 'wasm-probe-fuzz-api-'))
    await misuse(c, plan)
    // A runtime made with odd options must still work or refuse with a code.
    if (c.made) {
      const m = await run('made.loadModule(echo.wat)', () => c.made.loadModule(ECHO))
      if (m.ok) await run('made.executeProbe(echo, 1)', () => c.made.executeProbe(m.value, 1))
    }
  } else if (await setup(c, plan)) {
    await misuse(c, plan)
    await Promise.all(c.background)
    // Whatever the misuse did, the runtime still serves a plain execution.
    if (!c.closed) {
      const s = await run('sanity: rt.executeProbe(echo, { sane: true })', () => c.rt.executeProbe(c.echo, { sane: true }))
      if (s.ok && !isDeepStrictEqual(s.value.output, { sane: true })) fail('sanity', `a plain execution after the misuse answered ${show(s.value.output)}`)
      if (!s.ok) fail('sanity', 'a plain execution after the misuse failed')
    }
  }
  await Promise.all(c.background)
  for (const [name, rt] of c.runtimes) {
    await run(`${name}.close()`, () => rt.close())
    try {
      const { instances } = rt.stats()
      if (instances !== 0) fail('instances after close', `${name}.stats().instances is ${instances} after close()`)
    } catch (e) {
      fail('instances after close', `${name}.stats() after close() threw ${show(e)}`)
    }
  }
  // Late deliveries (an abort timer, a settling import) that throw show up here.
  await tick(50)
  if (c.dir) rmSync(c.dir, { recursive: true, force: true })
  finished = true
  emit({ t: 'done', failed })
  process.exitCode = failed ? 1 : 0
}

await (warm ? warmCache() : main())
