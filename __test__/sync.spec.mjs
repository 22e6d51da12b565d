// executeProbeSync (contract §4d): the probe runs on the calling thread to its end or its hard
// deadline and the result is returned; failures are thrown; a host call that would wait for
// JavaScript fails the call with ERR_WASM_CAPABILITY_DENIED.
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { WasmRuntime, guest, helloServer, probeWat, root, watGuest } from './helpers.mjs'

/** The WasmError `fn` throws; fails unless it throws one with `code`. */
function throwsWith(fn, code) {
  let error
  try {
    fn()
  } catch (e) {
    error = e
  }
  expect(error, `expected a throw with ${code}`).toBeDefined()
  expect(error.code).toBe(code)
  return error
}

let server
let origin
let rt
beforeAll(async () => {
  server = await helloServer()
  origin = server.origin
  rt = new WasmRuntime()
})
afterAll(async () => {
  await rt.close()
  await server.close()
})

describe('executeProbeSync', () => {
  test('returns the result itself: output, metrics, logs', async () => {
    const echo = await rt.loadModule(watGuest('echo.wat'))
    const r = rt.executeProbeSync(echo, { a: [1, 2] })
    expect(r).toMatchObject({ success: true, output: { a: [1, 2] }, logs: [] })
    expect(r.metrics.runUs).toBeGreaterThan(0)
    const words = await rt.loadModule(join(root, 'examples', 'guests', 'wat', 'word-count.wat'))
    const counted = rt.executeProbeSync(words, { text: 'one two three' })
    expect(counted.output).toEqual({ words: 3 })
    expect(counted.logs.map((l) => [l.source, l.message])).toEqual([['guest', 'counted words']])
    // A C guest with WASI stdout and a component both run the same way.
    expect(rt.executeProbeSync(await rt.loadModule(guest('c/greet.wasm')), { name: 'Ada' }).output).toMatchObject({ greeting: 'hello, Ada' })
  })

  test('throws where executeProbe rejects; a guest failure is a result', async () => {
    const trap = await rt.loadModule(Buffer.from(probeWat('(func (export "execute") (result i32) unreachable)')))
    const e = throwsWith(() => rt.executeProbeSync(trap, null), 'ERR_WASM_TRAP')
    expect(e.metrics).toBeDefined()
    const echo = await rt.loadModule(watGuest('echo.wat'))
    throwsWith(() => rt.executeProbeSync(echo, null, { export: 'nope' }), 'ERR_WASM_NO_EXPORT')
    const failing = await rt.loadModule(Buffer.from(probeWat('(func (export "execute") (result i32) (i32.const 3))')))
    expect(rt.executeProbeSync(failing, null)).toMatchObject({ success: false })
    throwsWith(() => rt.executeProbeSync({}, null), 'ERR_INVALID_ARG_TYPE')
  })

  test('a guest that never ends is stopped at the deadline, 50 ms unless told otherwise', async () => {
    const forever = await rt.loadModule(watGuest('loop.wat'))
    const e = throwsWith(() => rt.executeProbeSync(forever, null), 'ERR_WASM_TIMEOUT')
    expect(e.message).toMatch(/50 ms/)
    expect(throwsWith(() => rt.executeProbeSync(forever, null, { timeoutMs: 20 }), 'ERR_WASM_TIMEOUT').message).toMatch(/20 ms \(options\.timeoutMs\)/)
    // Fuel and memory limits hold as in executeProbe.
    throwsWith(() => rt.executeProbeSync(forever, null, { limits: { fuel: 10_000 } }), 'ERR_WASM_FUEL_EXHAUSTED')
    // The runtime is fine afterwards, synchronously and not.
    const echo = await rt.loadModule(watGuest('echo.wat'))
    expect(rt.executeProbeSync(echo, 1).output).toBe(1)
    expect((await rt.executeProbe(echo, 2)).output).toBe(2)
  })

  test('HTTP would wait for JavaScript: the call fails with ERR_WASM_CAPABILITY_DENIED, core module and component alike', async () => {
    for (const path of [watGuest('http-proxy.wat'), guest('test-js/imports.wasm')]) {
      const m = await rt.loadModule(path)
      const e = throwsWith(() => rt.executeProbeSync(m, { method: 'GET', url: `${origin}/` }), 'ERR_WASM_CAPABILITY_DENIED')
      expect(e.message).toMatch(/^Capability not granted: http \(not available in a synchronous call\)/)
      // The same guest asynchronously, granted, reaches the server.
      const r = await rt.executeProbe(m, { method: 'GET', url: `${origin}/` }, { capabilities: { http: { allow: [origin] } } })
      expect(r.success).toBe(true)
    }
  })

  test('refuses options it cannot honour, naming them', async () => {
    const echo = await rt.loadModule(watGuest('echo.wat'))
    for (const timeoutMs of [0, -1, 1001, Number.NaN]) {
      expect(throwsWith(() => rt.executeProbeSync(echo, null, { timeoutMs }), 'ERR_INVALID_ARG_VALUE').message).toMatch(/options\.timeoutMs/)
    }
    throwsWith(() => rt.executeProbeSync(echo, null, { timeoutMs: '5' }), 'ERR_INVALID_ARG_TYPE')
    expect(throwsWith(() => rt.executeProbeSync(echo, null, { limits: { timeoutMs: 5 } }), 'ERR_INVALID_ARG_VALUE').message).toMatch(/options\.timeoutMs/)
    throwsWith(() => rt.executeProbeSync(echo, null, { signal: new AbortController().signal }), 'ERR_INVALID_ARG_VALUE')
    throwsWith(() => rt.executeProbeSync(echo, 1n), 'ERR_INVALID_ARG_VALUE')
  })

  test('the runtime’s log sink gets the records with the label; a closed runtime refuses', async () => {
    const seen = []
    const logged = new WasmRuntime({ log: (r) => seen.push(r) })
    const words = await logged.loadModule(join(root, 'examples', 'guests', 'wat', 'word-count.wat'))
    logged.executeProbeSync(words, { text: 'a b' }, { label: 'hover' })
    expect(seen).toMatchObject([{ message: 'counted words', label: 'hover' }])
    await logged.close()
    throwsWith(() => logged.executeProbeSync(words, { text: 'a' }), 'ERR_WASM_CLOSED')
  })
})

describe('instance.callSync', () => {
  /** A core instance counting its calls in a global: `bump` answers {"n": calls so far}. */
  const COUNTER = probeWat(`(global $n (mut i32) (i32.const 0))
  (data (i32.const 1024) "{\\"n\\":0}")
  (func (export "bump") (result i32)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (i32.store8 (i32.const 1029) (i32.add (i32.const 48) (global.get $n)))
    (call $output_write (i32.const 1024) (i32.const 7))
    (i32.const 0))
  (func (export "spin") (result i32) (loop $l (br $l)) (i32.const 0))`)

  test('returns the result; the instance keeps its state across sync and async calls', async () => {
    const m = await rt.loadModule(Buffer.from(COUNTER))
    const inst = await rt.instantiate(m)
    expect(inst.callSync('bump').output).toEqual({ n: 1 })
    expect((await inst.call('bump')).output).toEqual({ n: 2 })
    expect(inst.callSync('bump', null, { timeoutMs: 200 }).output).toEqual({ n: 3 })
    await inst.dispose()
  })

  test('the deadline stops a guest that never ends; a call in flight makes it ERR_WASM_BUSY', async () => {
    const m = await rt.loadModule(Buffer.from(COUNTER))
    // Rebuilt at once after each timeout (the default waits 100 ms, doubling).
    const inst = await rt.instantiate(m, { restart: { backoffMs: 1 } })
    expect(throwsWith(() => inst.callSync('spin', null, { timeoutMs: 30 }), 'ERR_WASM_TIMEOUT').message).toMatch(/30 ms \(options\.timeoutMs\)/)
    const running = inst.call('spin', null, { timeoutMs: 300 }).catch((e) => e)
    throwsWith(() => inst.callSync('bump'), 'ERR_WASM_BUSY')
    expect((await running).code).toBe('ERR_WASM_TIMEOUT')
    // The instance was restarted after its timeouts and answers again.
    expect(inst.callSync('bump', null, { timeoutMs: 500 }).output).toEqual({ n: 1 })
    await inst.dispose()
  })

  test('HTTP is refused in it; options it does not take are named', async () => {
    const m = await rt.loadModule(watGuest('http-proxy.wat'))
    const inst = await rt.instantiate(m, { capabilities: { http: { allow: [origin] } } })
    const e = throwsWith(() => inst.callSync('execute', { method: 'GET', url: `${origin}/` }), 'ERR_WASM_CAPABILITY_DENIED')
    expect(e.message).toMatch(/not available in a synchronous call/)
    // Asynchronously the same instance, granted, reaches the server.
    expect((await inst.call('execute', { method: 'GET', url: `${origin}/` })).output.ok.body).toBe('hello')
    expect(throwsWith(() => inst.callSync('execute', null, { limits: { fuel: 5 } }), 'ERR_INVALID_ARG_VALUE').message).toMatch(/options\.limits/)
    expect(throwsWith(() => inst.callSync('execute', null, { export: 'x' }), 'ERR_INVALID_ARG_VALUE').message).toMatch(/options\.export/)
    throwsWith(() => inst.callSync(42), 'ERR_INVALID_ARG_TYPE')
    await inst.dispose()
  })
})
