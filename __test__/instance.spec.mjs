// Long-lived instances: state kept and ordered, the crash policy (rebuild, backoff, disable,
// timeout escalation), per-operation timeouts, cancellation, dispose and close.
import { afterAll, describe, expect, test } from 'vitest'
import { WasmError, WasmRuntime, guest, probeWat, rejectsWith } from './helpers.mjs'

const rt = new WasmRuntime()
afterAll(() => rt.close())

// A counter: "bump" adds one and answers the count; "crash" traps; "spin" never ends;
// "wait" blocks in a host call (an HTTP request to a handler that never answers).
const COUNTER = probeWat(`(global $n (mut i32) (i32.const 0))
  (data (i32.const 100) "{\\"url\\":\\"http://127.0.0.1:9/\\"}")
  (func $digit (result i32)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (i32.store8 (i32.const 0) (i32.add (i32.const 48) (global.get $n)))
    (call $output_write (i32.const 0) (i32.const 1))
    (i32.const 0))
  (func (export "bump") (result i32) (call $digit))
  (func (export "crash") unreachable)
  (func (export "spin") (loop $l (br $l)))
  (func (export "wait") (drop (call $http_fetch (i32.const 100) (i32.const 29))))
  (func (export "fail") (result i32) (i32.const 3))`)

async function counter(options, runtime = rt) {
  const m = await runtime.loadModule(Buffer.from(COUNTER))
  const changes = []
  const instance = await runtime.instantiate(m, { onStateChange: (c) => changes.push(c), ...options })
  return { instance, changes }
}

describe('a long-lived core instance', () => {
  test('keeps its state between calls, and runs calls one at a time in order', async () => {
    const { instance } = await counter()
    expect(instance.state).toBe('ready')
    expect((await instance.call('bump')).output).toBe(1)
    expect((await instance.call('bump')).output).toBe(2)
    const many = await Promise.all(Array.from({ length: 5 }, () => instance.call('bump')))
    expect(many.map((r) => r.output)).toEqual([3, 4, 5, 6, 7])
    await instance.dispose()
  })

  test("a guest's own failure is not a crash: state stays", async () => {
    const { instance, changes } = await counter()
    await instance.call('bump')
    const r = await instance.call('fail')
    expect(r.success).toBe(false)
    expect((await instance.call('bump')).output).toBe(2)
    await rejectsWith(instance.call('nope'), 'ERR_WASM_NO_EXPORT')
    expect((await instance.call('bump')).output).toBe(3)
    expect(changes).toEqual([])
    await instance.dispose()
  })

  test('after a trap the call rejects, and the instance is rebuilt fresh (state reset) after a backoff', async () => {
    const { instance, changes } = await counter({ restart: { backoffMs: 200 } })
    await instance.call('bump')
    await instance.call('bump')
    const e = await rejectsWith(instance.call('crash'), 'ERR_WASM_TRAP')
    expect(e).toBeInstanceOf(WasmError)
    expect(instance.state).toBe('restarting')
    const started = performance.now()
    expect((await instance.call('bump')).output).toBe(1)
    expect(performance.now() - started).toBeGreaterThanOrEqual(190)
    expect(changes.map((c) => [c.previous, c.state, c.code])).toEqual([
      ['busy', 'restarting', 'ERR_WASM_TRAP'],
      ['restarting', 'ready', undefined],
    ])
    expect(changes[0].reason).toMatch(/restarting with fresh state in 200 ms/)
    await instance.dispose()
  })

  test('backoff doubles while failures continue, and repeated failures disable the instance', async () => {
    const { instance, changes } = await counter({ restart: { backoffMs: 20, maxFailures: 3 } })
    for (let i = 0; i < 3; i++) await rejectsWith(instance.call('crash'), 'ERR_WASM_TRAP')
    expect(changes.filter((c) => c.state === 'restarting').map((c) => c.reason.match(/in (\d+) ms/)[1])).toEqual(['20', '40'])
    expect(instance.state).toBe('disabled')
    expect(changes.at(-1)).toMatchObject({ state: 'disabled', code: 'ERR_WASM_TRAP' })
    expect(changes.at(-1).reason).toMatch(/^disabled: 3 failures/)
    const e = await rejectsWith(instance.call('bump'), 'ERR_WASM_INSTANCE_DISABLED')
    expect(e.message).toMatch(/enable\(\)/)
    instance.enable()
    expect((await instance.call('bump')).output).toBe(1)
    expect(instance.state).toBe('ready')
    await instance.dispose()
  })

  test('timeouts escalate: warning, terminated, disabled', async () => {
    const { instance, changes } = await counter({ restart: { backoffMs: 1 }, timeouts: { tick: 50 } })
    for (let i = 0; i < 3; i++) await rejectsWith(instance.call('spin', null, { operation: 'tick' }), 'ERR_WASM_TIMEOUT')
    const reasons = changes.filter((c) => c.code === 'ERR_WASM_TIMEOUT').map((c) => c.reason.split(':')[0])
    expect(reasons).toEqual(['warning', 'terminated', 'disabled'])
    expect(instance.state).toBe('disabled')
    await instance.dispose()
  })

  test('per-operation timeouts and a per-call override', async () => {
    const { instance } = await counter({ timeouts: { hover: 100 } })
    expect(instance.timeouts).toMatchObject({ activation: 10_000, completion: 2_000, hover: 100 })
    let started = performance.now()
    await rejectsWith(instance.call('spin', null, { operation: 'hover' }), 'ERR_WASM_TIMEOUT')
    expect(performance.now() - started).toBeLessThan(100 + 1000)
    started = performance.now()
    const e = await rejectsWith(instance.call('spin', null, { operation: 'hover', timeoutMs: 250 }), 'ERR_WASM_TIMEOUT')
    expect(e.message).toMatch(/250 ms/)
    expect(performance.now() - started).toBeGreaterThanOrEqual(240)
    await rejectsWith(instance.call('bump', null, { operation: 'no-such-operation' }), 'ERR_INVALID_ARG_VALUE')
    await rejectsWith(instance.call('bump', null, { timeoutMs: -1 }), 'ERR_INVALID_ARG_VALUE')
    await instance.dispose()
  })

  test('cancellation: already aborted, while computing, and while waiting in a host call', async () => {
    const never = new WasmRuntime({ http: () => new Promise(() => {}) })
    const { instance, changes } = await counter({ capabilities: { http: { allow: ['http://127.0.0.1:9'] } } }, never)
    await rejectsWith(instance.call('bump', null, { signal: AbortSignal.abort() }), 'ERR_WASM_CANCELLED')
    for (const exportName of ['spin', 'wait']) {
      const ac = new AbortController()
      setTimeout(() => ac.abort(), 50)
      const started = performance.now()
      await rejectsWith(instance.call(exportName, null, { signal: ac.signal }), 'ERR_WASM_CANCELLED')
      expect(performance.now() - started).toBeLessThan(1000)
    }
    // Cancelling restarts the instance but is not counted as a failure.
    expect(changes.filter((c) => c.state === 'disabled')).toEqual([])
    expect((await instance.call('bump')).output).toBe(1)
    await instance.dispose()
    await never.close()
  })

  test('dispose stops the running call and settles queued ones with ERR_WASM_CLOSED', async () => {
    const { instance } = await counter()
    const running = instance.call('spin').catch((e) => e.code)
    const queued = [instance.call('bump'), instance.call('bump')].map((p) => p.catch((e) => e.code))
    await new Promise((r) => setTimeout(r, 20))
    await instance.dispose()
    expect(instance.state).toBe('disposed')
    expect(await Promise.all(queued)).toEqual(['ERR_WASM_CLOSED', 'ERR_WASM_CLOSED'])
    expect(await running).toBe('ERR_WASM_CLOSED')
    await rejectsWith(instance.call('bump'), 'ERR_WASM_CLOSED')
  })

  test('closing the runtime settles running and queued calls', async () => {
    const own = new WasmRuntime()
    const { instance } = await counter({}, own)
    const calls = [instance.call('spin'), instance.call('bump')].map((p) => p.catch((e) => e.code))
    await new Promise((r) => setTimeout(r, 30))
    await own.close()
    expect(await Promise.all(calls)).toEqual(['ERR_WASM_CLOSED', 'ERR_WASM_CLOSED'])
    await rejectsWith(instance.call('bump'), 'ERR_WASM_CLOSED')
  })

  test('instantiate reports problems at once', async () => {
    const m = await rt.loadModule(Buffer.from(probeWat('(func (export "bump") (result i32) (i32.const 0))', { pages: 100 })))
    await rejectsWith(rt.instantiate(m, { limits: { memoryBytes: 1024 * 1024 } }), 'ERR_WASM_MEMORY_LIMIT')
    await rejectsWith(rt.instantiate({}), 'ERR_INVALID_ARG_TYPE')
    await rejectsWith(rt.instantiate(m, { restart: { maxFailures: 0 } }), 'ERR_INVALID_ARG_VALUE')
    const slowStart = await rt.loadModule(Buffer.from('(module (func $s (loop $l (br $l))) (start $s))'))
    await rejectsWith(rt.instantiate(slowStart, { timeouts: { activation: 100 } }), 'ERR_WASM_TIMEOUT')
  })
})

describe('a long-lived component instance', () => {
  test('keeps state between calls; a timeout rebuilds it with fresh state', async () => {
    const m = await rt.loadModule(guest('test-js/imports.wasm'))
    const changes = []
    const instance = await rt.instantiate(m, { restart: { backoffMs: 1 }, onStateChange: (c) => changes.push(c.state) })
    expect((await instance.call('execute', { op: 'count' })).output).toEqual({ count: 1 })
    expect((await instance.call('execute', { op: 'count' })).output).toEqual({ count: 2 })
    await rejectsWith(instance.call('execute', { op: 'spin' }, { timeoutMs: 100 }), 'ERR_WASM_TIMEOUT')
    expect((await instance.call('execute', { op: 'count' })).output).toEqual({ count: 1 })
    expect(changes).toEqual(['restarting', 'ready'])
    await rejectsWith(instance.call('nope'), 'ERR_WASM_NO_EXPORT')
    await instance.dispose()
  })
})
