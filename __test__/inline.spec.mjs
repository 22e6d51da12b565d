// Inline execution (issue 14): an execution starts on the calling thread for one slice of guest
// work and settles from there when it finishes in it; one that computes longer or waits on
// JavaScript continues on the worker pool. Where each one ran is observed through
// stats().inlineExecutions, never through timing.
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { WasmRuntime, guest, helloServer, probeWat, rejectsWith, root, watGuest } from './helpers.mjs'

/** A probe that counts down `n` (from its input's length... fixed here) and answers {"done":1}. */
const spin = (iterations) =>
  probeWat(`(data (i32.const 1024) "{\\"done\\":1}")
  (func (export "execute") (result i32)
    (local $i i32)
    (local.set $i (i32.const ${iterations}))
    (loop $again
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (br_if $again (i32.ne (local.get $i) (i32.const 0))))
    (call $output_write (i32.const 1024) (i32.const 10))
    (i32.const 0))`)

let server
let origin
beforeAll(async () => {
  server = await helloServer()
  origin = server.origin
})
afterAll(() => server.close())

/** Runs `body(rt)` and returns how many of its executions finished on the calling thread. */
async function inlineCount(rt, body) {
  const before = rt.stats().inlineExecutions
  await body(rt)
  return rt.stats().inlineExecutions - before
}

describe('inline execution', () => {
  test('a short execution finishes on the calling thread, with the same result as on the pool', async () => {
    const inline = new WasmRuntime()
    const pooled = new WasmRuntime({ inline: false })
    const [a, b] = await Promise.all([inline.loadModule(watGuest('echo.wat')), pooled.loadModule(watGuest('echo.wat'))])
    const results = []
    const three = async (rt) => {
      for (const n of [1, 2, 3]) results.push(await rt.executeProbe(a, { n }))
    }
    expect(await inlineCount(inline, three)).toBe(3)
    expect(await inlineCount(pooled, async (rt) => results.push(await rt.executeProbe(b, { n: 4 })))).toBe(0)
    // Three at once: the first finishes here; while its outcome waits for the next turn, the
    // others start on the pool.
    expect(await inlineCount(inline, async (rt) => results.push(...(await Promise.all([5, 6, 7].map((n) => rt.executeProbe(a, { n }))))))).toBe(1)
    expect(results.map((r) => r.output)).toEqual([1, 2, 3, 4, 5, 6, 7].map((n) => ({ n })))
    // The same shape either way (a success crosses from this thread lean, src/binding/convert.rs).
    expect(Object.keys(results[0])).toEqual(Object.keys(results[3]))
    expect(Object.keys(results[0].metrics)).toEqual(Object.keys(results[3].metrics))
    for (const r of results) {
      expect(r.success).toBe(true)
      expect(r.metrics.runUs).toBeGreaterThan(0)
      expect(r.metrics.fuelConsumed).toBeGreaterThan(0)
    }
    expect(inline.stats().executions).toBe(6)
    expect(pooled.stats()).toMatchObject({ executions: 1, inlineExecutions: 0 })
    await Promise.all([inline.close(), pooled.close()])
  })

  test('the promise settles on a later turn even when the guest finished on this thread', async () => {
    const rt = new WasmRuntime()
    const m = await rt.loadModule(watGuest('echo.wat'))
    let settled = false
    const running = rt.executeProbe(m, { x: 1 }).then((r) => ((settled = true), r))
    expect(settled).toBe(false)
    expect((await running).output).toEqual({ x: 1 })
    expect(rt.stats().inlineExecutions).toBe(1)
    await rt.close()
  })

  test('a loop awaiting one inline execution after another still lets timers run between them', async () => {
    const rt = new WasmRuntime()
    const m = await rt.loadModule(watGuest('echo.wat'))
    let fired = false
    setTimeout(() => (fired = true), 0)
    let runs = 0
    while (!fired && runs < 100_000) {
      await rt.executeProbe(m, runs)
      runs++
    }
    expect(fired).toBe(true)
    expect(rt.stats().inlineExecutions).toBeGreaterThan(0)
    await rt.close()
  })

  test('a guest that computes past its slice continues on the pool and finishes there', async () => {
    const rt = new WasmRuntime()
    const long = await rt.loadModule(Buffer.from(spin(50_000_000)))
    const short = await rt.loadModule(Buffer.from(spin(100)))
    expect(await inlineCount(rt, async () => expect((await rt.executeProbe(long, null)).output).toEqual({ done: 1 }))).toBe(0)
    expect(await inlineCount(rt, async () => expect((await rt.executeProbe(short, null)).output).toEqual({ done: 1 }))).toBe(1)
    // Limits hold on the pool as before: a guest that never ends times out.
    const forever = await rt.loadModule(watGuest('loop.wat'))
    expect(await inlineCount(rt, () => rejectsWith(rt.executeProbe(forever, null, { limits: { timeoutMs: 100 } }), 'ERR_WASM_TIMEOUT'))).toBe(0)
    await rt.close()
  })

  test('a guest that waits on JavaScript (an HTTP request) continues on the pool', async () => {
    const rt = new WasmRuntime()
    const m = await rt.loadModule(watGuest('http-proxy.wat'))
    const run = () => rt.executeProbe(m, { method: 'GET', url: `${origin}/` }, { capabilities: { http: { allow: [origin] } } })
    expect(await inlineCount(rt, async () => expect((await run()).output.ok.body).toBe('hello'))).toBe(0)
    await rt.close()
  })

  test('with other work in flight, a new execution or call starts on the pool', async () => {
    const rt = new WasmRuntime()
    const [long, short] = await Promise.all([rt.loadModule(Buffer.from(spin(50_000_000))), rt.loadModule(watGuest('echo.wat'))])
    const instance = await rt.instantiate(short)
    const count = await inlineCount(rt, async () => {
      const running = rt.executeProbe(long, null)
      expect((await rt.executeProbe(short, { a: 1 })).output).toEqual({ a: 1 })
      expect((await instance.call('execute', { b: 2 })).output).toEqual({ b: 2 })
      expect((await running).output).toEqual({ done: 1 })
    })
    expect(count).toBe(0)
    // Once the runtime is quiet again, both start inline.
    expect(await inlineCount(rt, async () => {
      await rt.executeProbe(short, { a: 1 })
      await instance.call('execute', { b: 2 })
    })).toBe(2)
    await rt.close()
  })

  test('with live listeners the records come first, in order, then the result', async () => {
    const rt = new WasmRuntime()
    const m = await rt.loadModule(join(root, 'examples', 'guests', 'wat', 'word-count.wat'))
    const seen = []
    const count = await inlineCount(rt, async () => {
      const r = await rt.executeProbe(m, { text: 'one two' }, { onLog: (record) => seen.push(record.message) })
      seen.push(`result ${JSON.stringify(r.output)}`)
    })
    expect(count).toBe(1)
    expect(seen).toEqual(['counted words', 'result {"words":2}'])
    await rt.close()
  })

  test('errors are the same inline: a trap, a missing export, a guest failure, refused options', async () => {
    const rt = new WasmRuntime()
    const trap = await rt.loadModule(Buffer.from(probeWat('(func (export "execute") (result i32) unreachable)')))
    const failing = await rt.loadModule(Buffer.from(probeWat('(func (export "execute") (result i32) (i32.const 1))')))
    const echo = await rt.loadModule(watGuest('echo.wat'))
    const count = await inlineCount(rt, async () => {
      const e = await rejectsWith(rt.executeProbe(trap, null), 'ERR_WASM_TRAP')
      expect(e.metrics).toBeDefined()
      await rejectsWith(rt.executeProbe(echo, null, { export: 'nope' }), 'ERR_WASM_NO_EXPORT')
      expect(await rt.executeProbe(failing, null)).toMatchObject({ success: false })
      await rejectsWith(rt.executeProbe(echo, null, { limits: { timeoutMs: -1 } }), 'ERR_INVALID_ARG_VALUE')
    })
    // The trap and the failure ran inline; the missing export and the bad option never ran a guest.
    expect(count).toBeGreaterThanOrEqual(2)
    await rt.close()
  })

  test('typed calls run inline too', async () => {
    const rt = new WasmRuntime()
    const m = await rt.loadModule(guest('typed-example/text-stats.wasm'))
    expect(await inlineCount(rt, async () => expect(await rt.invoke(m, 'example:text/stats@0.1.0#summarize', ['a bb'])).toEqual({ words: 2, lines: 1, longestWord: 'bb' }))).toBe(1)
    await rt.close()
  })

  test('a long-lived instance: an idle call runs inline, calls behind it queue in order, state is kept', async () => {
    const rt = new WasmRuntime()
    const pooled = new WasmRuntime({ inline: false })
    const counter = Buffer.from(
      probeWat(`(global $n (mut i32) (i32.const 48))
  (func (export "bump") (result i32)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (i32.store8 (i32.const 0) (global.get $n))
    (call $output_write (i32.const 0) (i32.const 1))
    (i32.const 0))
  (func (export "crash") unreachable)`),
    )
    const instance = await rt.instantiate(await rt.loadModule(counter))
    const other = await pooled.instantiate(await pooled.loadModule(counter))
    // One call at a time: each finds the instance idle and finishes on this thread.
    expect(await inlineCount(rt, async () => {
      expect((await instance.call('bump')).output).toBe(1)
      expect((await instance.call('bump')).output).toBe(2)
    })).toBe(2)
    // Four at once: the first runs inline, the rest wait their turn on the pool, in order.
    const outputs = await Promise.all([1, 2, 3, 4].map(() => instance.call('bump').then((r) => r.output)))
    expect(outputs).toEqual([3, 4, 5, 6])
    expect(await inlineCount(pooled, async () => expect((await other.call('bump')).output).toBe(1))).toBe(0)
    // The crash policy is the same inline: a missing export keeps the state, a trap rebuilds the
    // instance (after its back-off, which the next call waits out on the pool).
    await rejectsWith(instance.call('nope'), 'ERR_WASM_NO_EXPORT')
    expect((await instance.call('bump')).output).toBe(7)
    await rejectsWith(instance.call('crash'), 'ERR_WASM_TRAP')
    expect(await inlineCount(rt, async () => expect((await instance.call('bump')).output).toBe(1))).toBe(0)
    await Promise.all([instance.dispose(), other.dispose()])
    await Promise.all([rt.close(), pooled.close()])
  })

  test('options.inline must be a boolean', () => {
    expect(() => new WasmRuntime({ inline: 'yes' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }))
  })
})
