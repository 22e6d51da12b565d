// Guest logs from all three sources (the log import, WASI stdout, WASI stderr): returned with the
// result, delivered live to onLog and to the runtime's sink with its label, in order, bounded.
import { afterAll, describe, expect, test } from 'vitest'
import { WasmRuntime, guest, probeWat, rejectsWith } from './helpers.mjs'

const sink = []
const rt = new WasmRuntime({ log: (record) => sink.push(record) })
afterAll(() => rt.close())

describe('logs', () => {
  test('a C guest: stdout, stderr and the log import, in order, to the result, onLog and the sink', async () => {
    const m = await rt.loadModule(guest('test-c/wasi.wasm'))
    const live = []
    sink.length = 0
    const r = await rt.executeProbe(m, 'print', { onLog: (record) => live.push(record), label: 'ext.c-probe' })
    expect(r.logs.map((l) => [l.source, l.level, l.message])).toEqual([
      ['stdout', 'info', 'to stdout'],
      ['stderr', 'error', 'to stderr'],
      ['guest', 'warn', 'to the log'],
      ['stdout', 'info', 'unterminated'],
    ])
    expect(live).toEqual(r.logs)
    expect(sink).toEqual(r.logs.map((l) => ({ ...l, label: 'ext.c-probe' })))
  })

  test('a component: its log import and console output', async () => {
    const m = await rt.loadModule(guest('js/greet.wasm'))
    sink.length = 0
    const r = await rt.executeProbe(m, { name: 'Logs' }, { label: 'ext.js-probe' })
    expect(r.logs.map((l) => l.source)).toEqual(['guest', 'stdout'])
    expect(sink.map((l) => [l.source, l.label])).toEqual([
      ['guest', 'ext.js-probe'],
      ['stdout', 'ext.js-probe'],
    ])
  })

  test('records arrive live, while the guest is still running', async () => {
    const m = await rt.loadModule(
      Buffer.from(
        probeWat(`(data (i32.const 0) "started")
        (func (export "execute") (result i32)
          (call $log (i32.const 2) (i32.const 0) (i32.const 7))
          (loop $forever (br $forever))
          (i32.const 0))`),
      ),
    )
    let arrivedAt
    const started = performance.now()
    const e = await rejectsWith(
      rt.executeProbe(m, null, { limits: { timeoutMs: 400 }, onLog: () => (arrivedAt = performance.now()) }),
      'ERR_WASM_TIMEOUT',
    )
    const settledAt = performance.now()
    expect(arrivedAt).toBeDefined()
    expect(arrivedAt - started).toBeLessThan(settledAt - started - 200)
    expect(e.logs.map((l) => l.message)).toEqual(['started'])
  })

  test('a guest printing in a loop neither traps nor grows without bound; drops are counted', async () => {
    const m = await rt.loadModule(guest('test-c/wasi.wasm'))
    let live = 0
    const r = await rt.executeProbe(m, 'flood', { onLog: () => live++ })
    expect(r.success).toBe(true)
    expect(r.output).toEqual({ flooded: true })
    expect(r.logs).toHaveLength(1001)
    expect(r.logs[0].message).toBe('line 0 of a guest that prints in a loop')
    expect(r.logs.at(-1)).toMatchObject({ level: 'warn', source: 'guest' })
    expect(r.logs.at(-1).message).toMatch(/^99000 log records dropped/)
    expect(live).toBe(1001)
  })

  test('a throwing listener disturbs nothing', async () => {
    const m = await rt.loadModule(guest('test-c/wasi.wasm'))
    const r = await rt.executeProbe(m, 'print', {
      onLog: () => {
        throw new Error('listener bug')
      },
    })
    expect(r.success).toBe(true)
    expect(r.logs).toHaveLength(4)
  })
})
