// Live guest events (contract §4b): `probe:runtime/events` emit and `probe.event_emit` reach
// `onEvent` while the guest runs — in order with its logs, before the outcome, bounded like
// logs — and a host call in flight does not hold them back.
import { createServer } from 'node:http'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { TYPED_GUESTS, WasmRuntime, guest, rejectsWith, root } from './helpers.mjs'

const cacheDir = join(root, 'build', 'test-cache')
const API = 'test:typed/api@0.1.0#'
const editor = {
  'get-line': () => '',
  'show-message': () => {},
  'read-document': async () => '',
  'offset-at': () => 0,
}

/** A core guest that logs and emits, in this order: log a, event one, log b, event two. */
const ORDERED = `(module
  (import "probe" "log" (func $log (param i32 i32 i32)))
  (import "probe" "event_emit" (func $emit (param i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "ab")
  (data (i32.const 16) "one")
  (data (i32.const 32) "{\\"n\\":1}")
  (data (i32.const 48) "two")
  (data (i32.const 64) "[2,\\"x\\"]")
  (data (i32.const 80) "bad")
  (data (i32.const 96) "{oops")
  (func (export "execute") (result i32)
    (call $log (i32.const 2) (i32.const 0) (i32.const 1))
    (call $emit (i32.const 16) (i32.const 3) (i32.const 32) (i32.const 7))
    (call $log (i32.const 2) (i32.const 1) (i32.const 1))
    (call $emit (i32.const 48) (i32.const 3) (i32.const 64) (i32.const 7))
    (call $emit (i32.const 80) (i32.const 3) (i32.const 96) (i32.const 5))
    (i32.const 0))
  (func (export "flood") (param $n i32)
    (loop $next
      (call $emit (i32.const 16) (i32.const 3) (i32.const 32) (i32.const 7))
      (local.tee $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $next))))`

let rt
let server
let port
let served = 0
beforeAll(async () => {
  rt = new WasmRuntime({ cacheDir })
  // /slow answers after 3 s, the blind interval of the seeds' case.
  server = createServer((req, res) => {
    setTimeout(() => {
      served++
      res.end('done')
    }, 3000)
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  port = server.address().port
})
afterAll(async () => {
  await rt.close()
  await new Promise((resolve) => server.close(resolve))
})

describe('events', () => {
  test.each(TYPED_GUESTS)('%s: an event emitted before a slow request arrives while the request is still in flight', async (_, file) => {
    const m = await rt.loadModule(guest(file), { imports: { 'test:typed/editor@0.1.0': editor } })
    const before = served
    const seen = []
    const url = `http://127.0.0.1:${port}/slow`
    const call = rt.invoke(m, `${API}slow-fetch`, [url], {
      capabilities: { http: { allow: [`http://127.0.0.1:${port}`] } },
      limits: { timeoutMs: 20_000 },
      onEvent: (event) => seen.push({ ...event, servedThen: served }),
    })
    expect(await call).toBe(200)
    expect(seen.map((e) => e.name)).toEqual(['loading', 'loaded'])
    expect(seen[0]).toMatchObject({ data: { url }, servedThen: before })
    expect(seen[1]).toMatchObject({ data: { status: 200 }, servedThen: before + 1 })
    expect(seen[1].timestamp - seen[0].timestamp).toBeGreaterThanOrEqual(2900)
  })

  test('events come in order with the logs, each delivered before the outcome', async () => {
    const m = await rt.loadModule(ORDERED)
    const order = []
    const result = await rt.executeProbe(m, null, {
      onLog: (r) => order.push(`log ${r.message}`),
      onEvent: (e) => order.push(`event ${e.name} ${JSON.stringify(e.data)}`),
    })
    expect(order).toEqual([
      'log a',
      'event one {"n":1}',
      'log b',
      'event two [2,"x"]',
      'log event "bad" was dropped: its data is not JSON text',
    ])
    expect(result.logs.map((r) => r.message)).toEqual(['a', 'b', 'event "bad" was dropped: its data is not JSON text'])
  })

  test('bounded: past 1000 events the rest are counted and reported once', async () => {
    const m = await rt.loadModule(ORDERED)
    let count = 0
    const logs = []
    await rt.invoke(m, 'flood', [1500], { onEvent: () => count++, onLog: (r) => logs.push(r.message) })
    expect(count).toBe(1000)
    expect(logs).toEqual(['500 events dropped: an execution emits at most 1000 events and 1048576 bytes of event data'])
  })

  test('on a long-lived instance: per call, or the instance default', async () => {
    const m = await rt.loadModule(ORDERED)
    const byDefault = []
    const instance = await rt.instantiate(m, { onEvent: (e) => byDefault.push(e.name) })
    await instance.call('execute')
    const own = []
    await instance.invoke('flood', [2], { onEvent: (e) => own.push(e.name) })
    expect(byDefault).toEqual(['one', 'two'])
    expect(own).toEqual(['one', 'one'])
    await instance.dispose()
  })

  test('a throwing listener disturbs nothing; an execution without a listener still runs', async () => {
    const m = await rt.loadModule(ORDERED)
    const result = await rt.executeProbe(m, null, {
      onEvent: () => {
        throw new Error('listener bug')
      },
    })
    expect(result.success).toBe(true)
    expect((await rt.executeProbe(m)).success).toBe(true)
    await rejectsWith(rt.executeProbe(m, null, { onEvent: 'no' }), 'ERR_INVALID_ARG_TYPE')
  })
})
