import { afterAll, describe, expect, test } from 'vitest'
import { WasmError, WasmRuntime, constantProbe, guest, probeWat, rejectsWith } from './helpers.mjs'

const rt = new WasmRuntime()
afterAll(() => rt.close())
const load = (text) => rt.loadModule(Buffer.from(text))

// Echo: output = input.
const ECHO = probeWat(`(func (export "execute") (result i32)
    (call $input_read (i32.const 0))
    (call $output_write (i32.const 0) (call $input_len))
    (i32.const 0))`)

describe('core module probes', () => {
  test('input reaches the guest as JSON text and the output comes back parsed', async () => {
    const m = await load(ECHO)
    const input = { name: 'Ada', tags: ['a', 'b'], n: 1.5, nested: { ok: true }, text: 'ünïcødé ✓' }
    const r = await rt.executeProbe(m, input)
    expect(r.success).toBe(true)
    expect(r.output).toEqual(input)
    expect(r.error).toBeUndefined()
    expect(r.latencyMs).toBeGreaterThan(0)
    expect(r.metrics.hostCalls).toBe(3)
    expect(r.metrics.instantiateUs).toBeGreaterThan(0)
    expect(r.metrics.runUs).toBeGreaterThan(0)
    expect(r.metrics.memoryPeakBytes).toBe(65536)
    expect(r.metrics.fuelConsumed).toBeGreaterThan(0)
    expect(r.logs).toEqual([])
  })

  test('undefined input reaches the guest as null', async () => {
    const m = await load(ECHO)
    expect((await rt.executeProbe(m)).output).toBeNull()
    expect((await rt.executeProbe(m, undefined)).output).toBeNull()
    expect((await rt.executeProbe(m, 0)).output).toBe(0)
  })

  test('a guest that writes no output resolves with output undefined', async () => {
    const m = await load(probeWat('(func (export "execute") (result i32) (i32.const 0))'))
    const r = await rt.executeProbe(m, { ignored: true })
    expect(r).toMatchObject({ success: true })
    expect(r.output).toBeUndefined()
  })

  test('a module with no imports at all runs', async () => {
    const m = await load('(module (func (export "execute") (result i32) (i32.const 0)))')
    expect(m.imports).toEqual([])
    expect((await rt.executeProbe(m)).success).toBe(true)
  })

  test('last output_write wins', async () => {
    const m = await load(
      probeWat(`(data (i32.const 0) "[1][2]")
      (func (export "execute") (result i32)
        (call $output_write (i32.const 0) (i32.const 3))
        (call $output_write (i32.const 3) (i32.const 3))
        (i32.const 0))`),
    )
    expect((await rt.executeProbe(m)).output).toEqual([2])
  })

  test('error_write reports the guest failure with its message', async () => {
    const m = await load(
      probeWat(`(data (i32.const 0) "name is required")
      (func (export "execute") (result i32)
        (call $error_write (i32.const 0) (i32.const 16))
        (i32.const 1))`),
    )
    const r = await rt.executeProbe(m, {})
    expect(r.success).toBe(false)
    expect(r.error).toBe('name is required')
    expect(r.output).toBeUndefined()
  })

  test('a non-zero return without a message is a failure that says so', async () => {
    const m = await load(probeWat('(func (export "execute") (result i32) (i32.const 7))'))
    const r = await rt.executeProbe(m)
    expect(r.success).toBe(false)
    expect(r.error).toMatch(/returned 7/)
  })

  test('a () -> () export succeeds unless it reports failure', async () => {
    const m = await load(
      probeWat(`(data (i32.const 0) "\\"unit\\"")
      (func (export "execute") (call $output_write (i32.const 0) (i32.const 6)))`),
    )
    expect(await rt.executeProbe(m)).toMatchObject({ success: true, output: 'unit' })
  })

  test('_initialize runs once, before the export', async () => {
    const m = await load(
      probeWat(`(global $ready (mut i32) (i32.const 0))
      (data (i32.const 0) "\\"initialized\\"\\"missing\\"")
      (func (export "_initialize") (global.set $ready (i32.add (global.get $ready) (i32.const 1))))
      (func (export "execute") (result i32)
        (if (i32.eq (global.get $ready) (i32.const 1))
          (then (call $output_write (i32.const 0) (i32.const 13)))
          (else (call $output_write (i32.const 13) (i32.const 9))))
        (i32.const 0))`),
    )
    expect((await rt.executeProbe(m)).output).toBe('initialized')
  })

  test('each execution gets a fresh instance', async () => {
    const m = await load(
      probeWat(`(global $count (mut i32) (i32.const 48))
      (func (export "execute") (result i32)
        (global.set $count (i32.add (global.get $count) (i32.const 1)))
        (i32.store8 (i32.const 0) (global.get $count))
        (call $output_write (i32.const 0) (i32.const 1))
        (i32.const 0))`),
    )
    for (let i = 0; i < 3; i++) expect((await rt.executeProbe(m)).output).toBe(1)
  })

  test('options.export selects another export', async () => {
    const m = await load(
      probeWat(`(data (i32.const 0) "1")(data (i32.const 1) "2")
      (func (export "execute") (result i32) (call $output_write (i32.const 0) (i32.const 1)) (i32.const 0))
      (func (export "other") (result i32) (call $output_write (i32.const 1) (i32.const 1)) (i32.const 0))`),
    )
    expect((await rt.executeProbe(m, null, { export: 'other' })).output).toBe(2)
  })

  test('missing export or wrong signature: ERR_WASM_NO_EXPORT naming what exists', async () => {
    const m = await load(
      probeWat(`(func (export "run") (result i32) (i32.const 0))
      (func (export "takes") (param i32) (result i32) (i32.const 0))
      (func (export "pair") (result i32 i32) (i32.const 0) (i32.const 0))`),
    )
    const missing = await rejectsWith(rt.executeProbe(m), 'ERR_WASM_NO_EXPORT')
    expect(missing.message).toContain('"execute"')
    expect(missing.message).toContain('run')
    const params = await rejectsWith(rt.executeProbe(m, null, { export: 'takes' }), 'ERR_WASM_NO_EXPORT')
    expect(params.message).toMatch(/\(\) -> i32 or \(\) -> \(\)/)
    await rejectsWith(rt.executeProbe(m, null, { export: 'pair' }), 'ERR_WASM_NO_EXPORT')
    const notFunc = await rejectsWith(rt.executeProbe(m, null, { export: 'memory' }), 'ERR_WASM_NO_EXPORT')
    expect(notFunc.message).toMatch(/not a function/)
  })

  test('output that is not JSON, or not UTF-8: ERR_WASM_BAD_OUTPUT', async () => {
    const notJson = await load(constantProbe('hello there'))
    const e1 = await rejectsWith(rt.executeProbe(notJson), 'ERR_WASM_BAD_OUTPUT')
    expect(e1.message).toMatch(/not JSON/)
    expect(e1.message).toContain('hello there')
    expect(e1.metrics.hostCalls).toBe(1)
    const notUtf8 = await load(
      probeWat(`(data (i32.const 0) "\\"\\ff\\fe\\"")
      (func (export "execute") (result i32) (call $output_write (i32.const 0) (i32.const 4)) (i32.const 0))`),
    )
    const e2 = await rejectsWith(rt.executeProbe(notUtf8), 'ERR_WASM_BAD_OUTPUT')
    expect(e2.message).toMatch(/UTF-8/)
  })

  test('host-buffer pointers out of bounds fail the execution and name the call', async () => {
    const cases = {
      output_write: '(call $output_write (i32.const 65530) (i32.const 100))',
      input_read: '(call $input_read (i32.const 65535))',
      log: '(call $log (i32.const 2) (i32.const -1) (i32.const 10))',
      error_write: '(call $error_write (i32.const 0) (i32.const -5))',
      result_read: '(drop (call $json_get (i32.const 0) (i32.const 2) (i32.const 0) (i32.const 0))) (call $result_read (i32.const 65535))',
    }
    for (const [call, code] of Object.entries(cases)) {
      const m = await load(
        probeWat(`(data (i32.const 0) "{}")
        (func $go (export "execute") (result i32) ${code} (i32.const 0))`),
      )
      const e = await rejectsWith(rt.executeProbe(m, { padding: 'x'.repeat(40) }), 'ERR_WASM_TRAP')
      expect(e.message).toContain(`probe.${call}`)
      expect(e.trap.kind).toBe('host-memory-out-of-bounds')
      expect(e.trap.backtrace.join('\n')).toMatch(/go|execute/)
    }
  })

  test('a core module without an exported memory gets a clear error when it calls the host', async () => {
    const m = await load(`(module
      (import "probe" "output_write" (func $ow (param i32 i32)))
      (func (export "execute") (result i32) (call $ow (i32.const 0) (i32.const 1)) (i32.const 0)))`)
    const e = await rejectsWith(rt.executeProbe(m), 'ERR_WASM_TRAP')
    expect(e.message).toMatch(/must export its linear memory/)
  })
})

describe('host imports of the core ABI', () => {
  test('log: levels, order and bounds', async () => {
    const m = await load(
      probeWat(`(data (i32.const 0) "abcdefghij")
      (func (export "execute") (result i32)
        (call $log (i32.const 0) (i32.const 0) (i32.const 1))
        (call $log (i32.const 1) (i32.const 1) (i32.const 1))
        (call $log (i32.const 2) (i32.const 2) (i32.const 1))
        (call $log (i32.const 3) (i32.const 3) (i32.const 1))
        (call $log (i32.const 4) (i32.const 4) (i32.const 1))
        (call $log (i32.const 9) (i32.const 5) (i32.const 1))
        (i32.const 0))`),
    )
    const seen = []
    const sink = []
    const withSink = new WasmRuntime({ log: (r) => sink.push(r) })
    const m2 = await withSink.loadModule(Buffer.from(probeWat('(func (export "execute") (result i32) (call $log (i32.const 2) (i32.const 0) (i32.const 0)) (i32.const 0))')))
    const r = await rt.executeProbe(m, null, { onLog: (rec) => seen.push(rec) })
    expect(r.logs.map((l) => [l.level, l.message, l.source])).toEqual([
      ['trace', 'a', 'guest'],
      ['debug', 'b', 'guest'],
      ['info', 'c', 'guest'],
      ['warn', 'd', 'guest'],
      ['error', 'e', 'guest'],
      ['warn', '[probe.log called with level 9, expected 0..4] f', 'guest'],
    ])
    expect(seen).toEqual(r.logs)
    for (const l of r.logs) expect(l.timestamp).toBeGreaterThan(Date.now() - 60_000)
    await withSink.executeProbe(m2, null, { label: 'ext.probe' })
    expect(sink).toHaveLength(1)
    expect(sink[0]).toMatchObject({ level: 'info', message: '', source: 'guest', label: 'ext.probe' })
    await withSink.close()
  })

  test('a guest logging in a loop is bounded, and told how much was dropped', async () => {
    const m = await load(
      probeWat(`(data (i32.const 0) "spam")
      (func (export "execute") (result i32) (local $i i32)
        (loop $l
          (call $log (i32.const 2) (i32.const 0) (i32.const 4))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 100000))))
        (i32.const 0))`),
    )
    const r = await rt.executeProbe(m)
    expect(r.success).toBe(true)
    expect(r.logs).toHaveLength(1001)
    expect(r.logs.at(-1).message).toMatch(/^99000 log records dropped/)
  })

  test('json_get and result_read: RFC 6901 pointers, absent (-1) and invalid (-2)', async () => {
    // Writes the json_get results as [code, code, code] and the found text after it.
    const m = await load(
      probeWat(`(data (i32.const 100) "{\\"a\\":{\\"b\\":[1,{\\"c\\":\\"x\\"}]}}")
      (data (i32.const 200) "/a/b/1/c")
      (data (i32.const 210) "/a/zz")
      (data (i32.const 220) "no-slash")
      (func $digit (param $at i32) (param $v i32)
        (i32.store8 (local.get $at) (i32.add (i32.const 48) (local.get $v))))
      (func (export "execute") (result i32) (local $n i32)
        (local.set $n (call $json_get (i32.const 100) (i32.const 25) (i32.const 200) (i32.const 8)))
        (call $result_read (i32.const 301))
        (i32.store8 (i32.const 300) (i32.const 91))
        (i32.store8 (i32.add (i32.const 301) (local.get $n)) (i32.const 44))
        (call $digit (i32.add (i32.const 302) (local.get $n)) (i32.add (call $json_get (i32.const 100) (i32.const 25) (i32.const 210) (i32.const 5)) (i32.const 2)))
        (i32.store8 (i32.add (i32.const 303) (local.get $n)) (i32.const 44))
        (call $digit (i32.add (i32.const 304) (local.get $n)) (i32.add (call $json_get (i32.const 100) (i32.const 25) (i32.const 220) (i32.const 8)) (i32.const 2)))
        (i32.store8 (i32.add (i32.const 305) (local.get $n)) (i32.const 44))
        (call $digit (i32.add (i32.const 306) (local.get $n)) (i32.add (call $json_get (i32.const 100) (i32.const 5) (i32.const 200) (i32.const 8)) (i32.const 2)))
        (i32.store8 (i32.add (i32.const 307) (local.get $n)) (i32.const 93))
        (call $output_write (i32.const 300) (i32.add (local.get $n) (i32.const 8)))
        (i32.const 0))`),
    )
    // found "x"; absent -1 -> 1; invalid pointer -2 -> 0; invalid document -2 -> 0
    expect((await rt.executeProbe(m)).output).toEqual(['x', 1, 0, 0])
  })

  test('clocks: now_ms is wall time, monotonic_ns moves forward', async () => {
    const m = await load(
      probeWat(`(func (export "execute") (result i32) (local $a i64) (local $b i64)
        (local.set $a (call $monotonic_ns))
        (local.set $b (call $monotonic_ns))
        (i64.store (i32.const 0) (call $now_ms))
        (if (i64.lt_u (local.get $b) (local.get $a)) (then unreachable))
        (i32.const 0))`),
    )
    const r = await rt.executeProbe(m)
    expect(r.success).toBe(true)
    expect(r.metrics.hostCalls).toBe(3)
  })

  test('http_fetch without a grant answers denied; the guest decides what to do', async () => {
    const req = JSON.stringify({ method: 'GET', url: 'http://127.0.0.1:9/' }).replaceAll('"', '\\"')
    const m = await load(
      probeWat(`(data (i32.const 0) "${req}")
      (func (export "execute") (result i32) (local $n i32)
        (local.set $n (call $http_fetch (i32.const 0) (i32.const ${req.replaceAll('\\', '').length})))
        (call $result_read (i32.const 1000))
        (call $output_write (i32.const 1000) (local.get $n))
        (i32.const 0))`),
    )
    const r = await rt.executeProbe(m)
    expect(r.output.err.kind).toBe('denied')
    expect(r.output.err.message).toMatch(/^Capability not granted: http/)
  })
})

describe('WasmError', () => {
  test('is an exported, constructible Error subclass', () => {
    const e = new WasmError('boom', 'ERR_WASM_TRAP')
    expect(e).toBeInstanceOf(Error)
    expect(e.name).toBe('WasmError')
    expect(e.code).toBe('ERR_WASM_TRAP')
    expect(e.message).toBe('boom')
    expect(new WasmError('x').code).toBe('ERR_WASM_HOST')
  })
})

describe('host imports of the component ABI (probe:runtime json and clock)', () => {
  test('json.get: found, absent and invalid; clock: wall time and a monotonic clock', async () => {
    const m = await rt.loadModule(guest('test-js/imports.wasm'))
    const doc = JSON.stringify({ a: { b: [1, { c: 'x' }] } })
    const json = async (pointer, document = doc) => (await rt.executeProbe(m, { op: 'json', document, pointer })).output
    expect(await json('/a/b/1/c')).toEqual({ value: '"x"' })
    expect(await json('/a/zz')).toEqual({ value: null })
    expect((await json('no-slash')).error).toMatch(/invalid JSON pointer/)
    expect((await json('/a', '{')).error).toMatch(/invalid JSON document/)
    const clock = (await rt.executeProbe(m, { op: 'clock' })).output
    expect(Math.abs(clock.nowMs - Date.now())).toBeLessThan(60_000)
    expect(clock.elapsedNs).toBeGreaterThanOrEqual(0)
  })
})
