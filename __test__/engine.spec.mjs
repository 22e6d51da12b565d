// The built-in JavaScript engine (issue 27, first steps): QuickJS-ng built from a registry
// package's sources with the project's host layer (engine/quickjs-host.c), and script modules
// (`loadScript`, `loadModule('x.js')`) that run on it. Real engine, real runtime, real limits.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { WasmRuntime, helloServer, rejectsWith, root } from './helpers.mjs'

let runtime
beforeAll(() => {
  runtime = new WasmRuntime()
})
afterAll(() => runtime?.close())

const run = async (source, input = null, options) => runtime.executeProbe(await runtime.loadScript(source), input, options)

describe('loading a script', () => {
  test('a script module: its kind, name, hash, size and exported functions', async () => {
    const source = 'export function execute() {}\nexport async function other() {}\nexport const value = 1'
    const m = await runtime.loadScript(source, { filename: 'probe.js' })
    expect(m.kind).toBe('script')
    expect(m.name).toBe('probe.js')
    expect(m.size).toBe(source.length)
    expect(m.hash).toMatch(/^[0-9a-f]{64}$/)
    expect(m.exports).toEqual(['execute', 'other'])
    expect(WasmRuntime.scriptEngine).toEqual({ name: 'quickjs-ng', version: '0.16.2' })
    // A name of its own; errors still name the file.
    const named = await runtime.loadScript('export function execute() { throw new Error("x") }', { filename: 'probe.js', name: 'my-probe' })
    expect(named.name).toBe('my-probe')
    expect((await runtime.executeProbe(named, null)).error).toMatch(/\(probe\.js:1:/)
  })

  test('a syntax error, or a throw while the module evaluates, rejects the load naming file:line:column', async () => {
    const syntax = await rejectsWith(runtime.loadScript('export function execute() {\n  return {\n}', { filename: 'bad.js' }), 'ERR_WASM_INVALID_MODULE')
    expect(syntax.message).toMatch(/SyntaxError: .*\n {4}at bad\.js:3:\d+/)
    const thrown = await rejectsWith(runtime.loadScript('throw new RangeError("at load")'), 'ERR_WASM_INVALID_MODULE')
    expect(thrown.message).toBe('RangeError: at load\n    at <anonymous> (script.js:1:11)')
  })

  test('a .js path loads that file as a script; a bad source is refused by name', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wasm-probe-script-'))
    try {
      writeFileSync(join(dir, 'greet.mjs'), 'export function execute(i) { return `hello, ${i.name}` }')
      const m = await runtime.loadModule(join(dir, 'greet.mjs'))
      expect(m.name).toBe('greet.mjs')
      expect((await runtime.executeProbe(m, { name: 'Grace' })).output).toBe('hello, Grace')
      // The CLI takes the same file.
      const cli = spawnSync(process.execPath, [join(root, 'bin', 'wasm-probe.js'), 'run', join(dir, 'greet.mjs'), '--input', '{"name":"Ada"}'], { encoding: 'utf8' })
      expect(cli.status, cli.stderr).toBe(0)
      expect(JSON.parse(cli.stdout)).toBe('hello, Ada')
      await rejectsWith(runtime.loadModule(join(dir, 'missing.js')), 'ERR_WASM_INVALID_MODULE')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
    await rejectsWith(runtime.loadScript(42), 'ERR_INVALID_ARG_TYPE')
    await rejectsWith(runtime.loadScript('', { imports: {} }), 'ERR_INVALID_ARG_VALUE')
  })

  test('any exported function runs with JSON input; a script without execute loads, but running it is ERR_WASM_NO_EXPORT', async () => {
    const m = await runtime.loadScript('export function helper(i) { return i + 1 }\nexport async function later(i) { return [i] }\nexport const value = 3')
    const none = await rejectsWith(runtime.executeProbe(m, null), 'ERR_WASM_NO_EXPORT')
    expect(none.message).toBe('the script exports no function "execute"; its functions: helper, later')
    expect((await runtime.executeProbe(m, 41, { export: 'helper' })).output).toBe(42)
    const instance = await runtime.instantiate(await runtime.loadScript('let n = 0; export function execute() { return ++n }\nexport function count() { return n }'))
    try {
      await instance.call('execute', null)
      await instance.call('execute', null)
      expect((await instance.call('count', null)).output).toBe(2)
      await rejectsWith(instance.call('value', null), 'ERR_WASM_NO_EXPORT')
    } finally {
      await instance.dispose()
    }
    // Not the engine's own exports, and not typed calls yet.
    await rejectsWith(runtime.executeProbe(m, null, { export: 'value' }), 'ERR_WASM_NO_EXPORT')
    await rejectsWith(runtime.executeProbe(m, null, { export: 'check' }), 'ERR_WASM_NO_EXPORT')
    const typed = await rejectsWith(runtime.invoke(m, 'helper', [1]), 'ERR_WASM_NO_EXPORT')
    expect(typed.message).toBe('a script\'s functions take JSON input; "helper" cannot be invoked with typed arguments yet')
  })
})

describe('running a script', () => {
  test('execute(input) returns the output; console calls are log records at their level', async () => {
    const r = await run('export function execute(i) { console.log("hello", i.name); console.warn("careful"); return { twice: i.n * 2 } }', { name: 'Ada', n: 21 })
    expect(r.success).toBe(true)
    expect(r.output).toEqual({ twice: 42 })
    expect(r.logs.map((l) => [l.level, l.message])).toEqual([
      ['info', 'hello Ada'],
      ['warn', 'careful'],
    ])
  })

  test('an async execute and top-level await settle before the result', async () => {
    const r = await run('const base = await Promise.resolve(10); export async function execute(i) { await null; return [1, 2, 3].map((x) => x * i + base) }', 2)
    expect(r.output).toEqual([12, 14, 16])
  })

  test('a throw and a rejection fail the probe with the message and the script position', async () => {
    const m = await runtime.loadScript('export function execute() {\n  throw new Error("boom")\n}', { filename: 'probe.js' })
    const thrown = await runtime.executeProbe(m, null)
    expect(thrown.success).toBe(false)
    expect(thrown.error).toMatch(/^Error: boom\n {4}at execute \(probe\.js:2:/)
    const rejected = await run('export async function execute() { await null; throw new TypeError("late") }')
    expect(rejected.error).toMatch(/^TypeError: late/)
  })

  test('a promise that can no longer settle ends at once, saying so', async () => {
    const r = await run('export function execute() { return new Promise(() => {}) }')
    expect(r.error).toMatch(/can no longer settle/)
    expect(r.latencyMs).toBeLessThan(1000)
  })

  test('a loop ends at the timeout, a heap bomb at the memory limit, deep recursion as a RangeError, and the runtime goes on', async () => {
    await rejectsWith(run('export function execute() { for (;;) {} }', null, { limits: { timeoutMs: 100 } }), 'ERR_WASM_TIMEOUT')
    const bomb = await run('export function execute() { const a = []; for (;;) a.push(new Array(1e5).fill(1)) }', null, { limits: { memoryBytes: 32 << 20 } })
    expect(bomb.success).toBe(false)
    expect(bomb.error).toMatch(/out of memory/)
    // Deep recursion is a RangeError the script can catch; uncaught, it fails the probe.
    const caught = await run('let depth = 0; function f(n) { depth = n; return f(n + 1) + 1 } export function execute() { try { return f(0) } catch (e) { return [e.name, e.message, depth > 1000] } }')
    expect(caught.output).toEqual(['RangeError', 'Maximum call stack size exceeded', true])
    const uncaught = await run('function f(n) { return f(n + 1) + 1 } export function execute() { return f(0) }')
    expect(uncaught.error).toMatch(/^RangeError: Maximum call stack size exceeded/)
    // With a wasm stack too small for the engine's limit, the runtime stops it instead.
    await rejectsWith(run('function f(n) { return f(n + 1) + 1 } export function execute() { return f(0) }', null, { limits: { stackBytes: 256 << 10 } }), 'ERR_WASM_STACK_OVERFLOW')
    expect((await run('export function execute() { return "still here" }')).output).toBe('still here')
  })

  test('each execution is a fresh engine from the same snapshot: no state and no shared randomness between them', async () => {
    const m = await runtime.loadScript('globalThis.count = (globalThis.count ?? 0) + 1; Object.prototype.polluted = true; export function execute() { return [count, Math.random()] }')
    const [a, b] = [await runtime.executeProbe(m, null), await runtime.executeProbe(m, null)]
    expect(a.output[0]).toBe(1)
    expect(b.output[0]).toBe(1)
    expect(a.output[1]).not.toBe(b.output[1])
    expect((await run('export function execute() { return ({}).polluted ?? "clean" }')).output).toBe('clean')
  })

  test('a long-lived instance evaluates the script once: its state persists across calls', async () => {
    const source = 'let calls = 0; console.log("evaluated"); export function execute(i) { calls += 1; return [calls, i * 3] }'
    const instance = await runtime.instantiate(await runtime.loadScript(source))
    try {
      const first = await instance.call('execute', 0)
      expect(first.output).toEqual([1, 0])
      expect(first.logs.map((l) => l.message)).toEqual(['evaluated'])
      for (let i = 1; i < 50; i++) {
        const r = await instance.call('execute', i)
        expect(r.output).toEqual([i + 1, i * 3])
        expect(r.logs).toEqual([])
      }
    } finally {
      await instance.dispose()
    }
  })

  test('nothing of the host: no require, process or file access, and no import but probe:runtime', async () => {
    const r = await run('export function execute() { return [typeof require, typeof process, typeof std, typeof os, typeof fetch] }')
    expect(r.output).toEqual(['undefined', 'undefined', 'undefined', 'undefined', 'function'])
    const refused = await rejectsWith(runtime.loadScript("import { readFileSync } from 'fs'\nexport function execute() {}"), 'ERR_WASM_INVALID_MODULE')
    expect(refused.message).toBe("ReferenceError: cannot import 'fs': a script may import only 'probe:runtime'")
  })
})

describe('the globals of a script', () => {
  test('TextEncoder / TextDecoder (UTF-8), crypto.getRandomValues, and QuickJS\'s own queueMicrotask, atob / btoa, performance.now', async () => {
    const r = await run(`export async function execute() {
      const text = 'h\\u00e9llo \\u{1F642}'
      const bytes = new TextEncoder().encode(text)
      const back = new TextDecoder().decode(bytes)
      const bad = new TextDecoder().decode(new Uint8Array([0x61, 0xff, 0xc3]))
      const random = [crypto.getRandomValues(new Uint8Array(32)), crypto.getRandomValues(new Uint8Array(32))]
      let floats
      try { crypto.getRandomValues(new Float64Array(2)) } catch (e) { floats = e.name }
      const order = []
      queueMicrotask(() => order.push('micro'))
      order.push('sync')
      await null
      return { length: bytes.length, same: back === text, bad, distinct: random[0].join() !== random[1].join() && random[0].some((b) => b !== 0), floats,
               order, b64: btoa('probe'), raw: atob('cHJvYmU='), now: typeof performance.now() }
    }`)
    expect(r.output).toEqual({ length: 11, same: true, bad: 'a\ufffd\ufffd', distinct: true, floats: 'TypeError', order: ['sync', 'micro'], b64: 'cHJvYmU=', raw: 'probe', now: 'number' })
  })
})

describe('probe:runtime and fetch in a script', () => {
  test('log, events, json and clock are the WIT interfaces as jco maps them', async () => {
    const events = []
    const m = await runtime.loadScript(`
      import { log, events, json, clock } from 'probe:runtime'
      export function execute() {
        log.log('warn', 'from log')
        events.emit('progress', JSON.stringify({ step: 1 }))
        let invalid
        try { json.get('{', '') } catch (e) { invalid = e.payload }
        let level
        try { log.log('loud', 'x') } catch (e) { level = e.message }
        return { found: json.get('{"a":{"b":[1,2]}}', '/a/b/1'), absent: json.get('{}', '/x') === undefined, invalid, level,
                 clocks: [typeof clock.nowMs(), typeof clock.monotonicNs(), clock.nowMs() > 1700000000000n] }
      }`)
    const r = await runtime.executeProbe(m, null, { onEvent: (e) => events.push(e) })
    expect(r.output).toEqual({
      found: '2',
      absent: true,
      invalid: 'invalid document or pointer',
      level: 'log.log: level must be one of trace, debug, info, warn, error, got loud',
      clocks: ['bigint', 'bigint', true],
    })
    expect(r.logs.map((l) => [l.level, l.message])).toEqual([['warn', 'from log']])
    expect(events.map((e) => [e.name, e.data])).toEqual([['progress', { step: 1 }]])
  })

  test('fetch and http.fetch go through the HTTP capability: granted origins answer, others are refused', async () => {
    const server = await helloServer()
    try {
      const m = await runtime.loadScript(`
        import { http } from 'probe:runtime'
        export async function execute(input) {
          const r = await fetch(input.origin + '/a', { method: 'POST', body: 'x' })
          const raw = await http.fetch({ method: 'GET', url: input.origin + '/b', headers: [] })
          const both = await Promise.all([fetch(input.origin + '/c'), fetch(input.origin + '/d')])
          let refused
          try { await fetch('http://example.com/') } catch (e) { refused = e.name + ': ' + e.message }
          let payload
          try { await http.fetch({ url: 'http://example.com/', headers: [] }) } catch (e) { payload = e.payload.tag }
          return { status: r.status, ok: r.ok, text: await r.text(), raw: [raw.status, raw.body], both: both.map((b) => b.status), refused, payload }
        }`)
      const r = await runtime.executeProbe(m, { origin: server.origin }, { capabilities: { http: { allow: [server.origin] } } })
      expect(r.output).toEqual({
        status: 200,
        ok: true,
        text: 'hello',
        raw: [200, 'hello'],
        both: [200, 200],
        refused: 'TypeError: fetch failed: http.fetch: denied: Capability not granted: http for http://example.com: not in capabilities.http.allow',
        payload: 'denied',
      })
      // Without a grant nothing leaves.
      const none = await runtime.executeProbe(m, { origin: server.origin })
      expect(none.success).toBe(false)
      expect(none.error).toMatch(/^TypeError: fetch failed: http\.fetch: denied: Capability not granted: http/)
    } finally {
      await server.close()
    }
  })
})
