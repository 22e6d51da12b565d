// Typed calls (contract §4b): `module.functions` and `module.wit`, and `invoke` with jco's value
// mapping both ways, on two guests of one world that uses every WIT type kind
// (__test__/guests/typed/typed.wit) — one from componentize-js, one in C on wit-bindgen's
// bindings — and on core modules. Arguments are checked against the WIT
// types before the guest runs; a top-level `err` rejects ERR_WASM_GUEST_ERROR with its payload.
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { TYPED_GUESTS, WasmRuntime, guest, rejectsWith, root } from './helpers.mjs'

const cacheDir = join(root, 'build', 'test-cache')
const API = 'test:typed/api@0.1.0#'
const EDITOR = 'test:typed/editor@0.1.0'

/** JavaScript implementations of the guest's editor import. */
const editor = {
  'get-line': (uri, line) => `${uri}:${line}`,
  'show-message': () => {},
  'read-document': async (uri) => `contents of ${uri}`,
  'offset-at': (pos) => pos.line * 100 + pos.character,
}

const EVERYTHING = {
  flag: true,
  small: -128,
  byte: 255,
  short: -32768,
  ushort: 65535,
  int: -2147483648,
  uint: 4294967295,
  big: -(2n ** 63n),
  ubig: 2n ** 64n - 1n,
  ratio: 1.5,
  precise: Math.PI,
  letter: '€',
  text: 'héllo wörld',
  bytes: new Uint8Array([0, 1, 254, 255]),
  points: [
    { x: 1, y: -2 },
    { x: 3, y: 4 },
  ],
  pair: ['a', 7],
  color: 'blue-ish',
  perms: { read: true, write: false, execAll: true },
  shape: { tag: 'rect', val: { x: 2, y: 3 } },
  maybe: 'present',
  nested: { tag: 'some', val: undefined },
  outcome: { tag: 'err', val: 'bad' },
}

let rt
beforeAll(() => {
  rt = new WasmRuntime({ cacheDir })
})
afterAll(() => rt.close())

describe.each(TYPED_GUESTS)('%s guest', (_, file) => {
  let typed
  beforeAll(async () => {
    typed = await rt.loadModule(guest(file), { imports: { [EDITOR]: editor } })
  })

  describe('reflection', () => {
    test('functions lists world-level and interface exports with their WIT types', () => {
      const byName = Object.fromEntries(typed.functions.map((f) => [f.name, f]))
      expect(byName.hello).toEqual({ name: 'hello', params: [{ name: 'name', type: 'string' }], result: 'string' })
      expect(byName[`${API}translate`]).toEqual({
        name: `${API}translate`,
        params: [
          { name: 'points', type: 'list<point>' },
          { name: 'dx', type: 's32' },
        ],
        result: 'list<point>',
      })
      expect(byName[`${API}parse-position`].result).toBe('result<position, parse-error>')
      expect(byName[`${API}nested`].params[0].type).toBe('option<option<u32>>')
      expect(byName[`${API}notify`].result ?? undefined).toBeUndefined()
      expect(Object.keys(byName)).toHaveLength(19)
      expect(byName.execute.result).toBe('result<string, string>')
    })

    test('wit is the world as WIT text, with its own packages and not WASI', () => {
      const wit = typed.wit
      expect(wit).toMatch(/^package root:component;/)
      expect(wit).toContain('export test:typed/api@0.1.0;')
      expect(wit).toContain('export hello: func(name: string) -> string;')
      expect(wit).toContain('record everything {')
      expect(wit).toContain('flags perms {')
      expect(wit).toContain('package probe:runtime@0.1.0 {')
      expect(wit).toContain('import wasi:io/streams@')
      expect(wit).not.toContain('package wasi:')
    })

  describe('values both ways', () => {
    test('a record of every type kind round-trips unchanged', async () => {
      expect(await rt.invoke(typed, `${API}echo`, [EVERYTHING])).toEqual(EVERYTHING)
      const other = { ...EVERYTHING, maybe: undefined, nested: { tag: 'none' }, outcome: { tag: 'ok', val: 9 }, shape: { tag: 'nothing' } }
      expect(await rt.invoke(typed, `${API}echo`, [other])).toEqual(other)
    })

    test('list<u8> comes back as a Uint8Array and goes in as one or as an array', async () => {
      const back = await rt.invoke(typed, `${API}echo`, [{ ...EVERYTHING, bytes: [9, 8, 7] }])
      expect(back.bytes).toBeInstanceOf(Uint8Array)
      expect([...back.bytes]).toEqual([9, 8, 7])
      expect(await rt.invoke(typed, `${API}bytes-len`, [Buffer.from('four')])).toBe(4)
      expect(await rt.invoke(typed, `${API}bytes-len`, [new Uint8Array(0)])).toBe(0)
    })

    test('s64 and u64 are bigints; exact integer numbers are accepted going in', async () => {
      expect(await rt.invoke(typed, `${API}add`, [-1n, 2n ** 64n - 1n])).toBe(2n ** 64n - 2n)
      expect(await rt.invoke(typed, `${API}add`, [5, 6])).toBe(11n)
    })

    test('variants, enums, flags and lists of records', async () => {
      expect(await rt.invoke(typed, `${API}area`, [{ tag: 'circle', val: 1 }])).toBeCloseTo(Math.PI, 5)
      expect(await rt.invoke(typed, `${API}area`, [{ tag: 'rect', val: { x: -2, y: 5 } }])).toBe(10)
      expect(await rt.invoke(typed, `${API}area`, [{ tag: 'nothing' }])).toBe(0)
      expect(await rt.invoke(typed, `${API}pick`, ['green', { write: true }])).toBe('green:write')
      expect(await rt.invoke(typed, `${API}pick`, ['red', {}])).toBe('red:')
      expect(await rt.invoke(typed, `${API}translate`, [[{ x: 1, y: 1 }, { x: -5, y: 2 }], 10])).toEqual([
        { x: 11, y: 1 },
        { x: 5, y: 2 },
      ])
    })

    test('options: undefined or null for none; nested options are tagged outside', async () => {
      expect(await rt.invoke(typed, `${API}maybe-double`, [21])).toBe(42)
      expect(await rt.invoke(typed, `${API}maybe-double`, [undefined])).toBeUndefined()
      expect(await rt.invoke(typed, `${API}maybe-double`, [null])).toBeUndefined()
      expect(await rt.invoke(typed, `${API}nested`, [{ tag: 'some', val: 5 }])).toEqual({ tag: 'some', val: 5 })
      expect(await rt.invoke(typed, `${API}nested`, [{ tag: 'some' }])).toEqual({ tag: 'some', val: undefined })
      expect(await rt.invoke(typed, `${API}nested`, [undefined])).toEqual({ tag: 'none' })
    })

    test('a world-level export, and a function with no result', async () => {
      expect(await rt.invoke(typed, 'hello', ['typed'])).toBe('hello, typed')
      expect(await rt.invoke(typed, `${API}notify`, ['hi'])).toBeUndefined()
    })

    test("a top-level result's ok is the value; err rejects ERR_WASM_GUEST_ERROR with the payload", async () => {
      expect(await rt.invoke(typed, `${API}checked-div`, [7, 2])).toBe(3)
      let e = await rejectsWith(rt.invoke(typed, `${API}checked-div`, [1, 0]), 'ERR_WASM_GUEST_ERROR')
      expect(e.payload).toBe('division by zero')
      expect(e.message).toBe(`"${API}checked-div" returned an error: division by zero`)
      expect(await rt.invoke(typed, `${API}parse-position`, ['3:4'])).toEqual({ line: 3, character: 4 })
      e = await rejectsWith(rt.invoke(typed, `${API}parse-position`, ['x:y']), 'ERR_WASM_GUEST_ERROR')
      expect(e.payload).toEqual({ tag: 'bad-number', val: 'x:y' })
      e = await rejectsWith(rt.invoke(typed, `${API}parse-position`, ['']), 'ERR_WASM_GUEST_ERROR')
      expect(e.payload).toEqual({ tag: 'empty' })
    })
  })

  describe('wrong values are refused before the guest runs, with their path', () => {
    const echo = (patch) => [{ ...EVERYTHING, ...patch }]
    const cases = [
      ['a string for s32', echo({ int: 'x' }), "args[0].int: expected s32, got 'x'"],
      ['u32 below zero', echo({ uint: -1 }), 'args[0].uint: expected u32, got -1'],
      ['u8 above 255', echo({ byte: 256 }), 'args[0].byte: expected u8, got 256'],
      ['a fraction for s16', echo({ short: 1.5 }), 'args[0].short: expected s16, got 1.5'],
      ['a string for u64', echo({ ubig: '1' }), "args[0].ubig: expected u64 (a bigint), got '1'"],
      ['a negative u64', echo({ ubig: -1n }), 'args[0].ubig: expected u64 (a bigint), got -1n'],
      ['two characters for a char', echo({ letter: 'ab' }), "args[0].letter: expected char (a string of one character), got 'ab'"],
      ['a number for bool', echo({ flag: 1 }), 'args[0].flag: expected bool, got 1'],
      ['a bad byte in list<u8>', echo({ bytes: [1, 300] }), 'args[0].bytes[1]: expected u8, got 300'],
      ['a bad field deep in a list', echo({ points: [{ x: 1, y: 2 }, { x: 'a', y: 2 }] }), "args[0].points[1].x: expected s32, got 'a'"],
      ['a missing field', echo({ text: undefined }), 'args[0].text: missing; expected string'],
      ['an unknown field', echo({ extra: 1 }), "args[0]: unknown field 'extra'"],
      ['a kebab-case key where camelCase is due', [{ ...EVERYTHING, perms: { 'exec-all': true } }], "args[0].perms: unknown flag 'exec-all'; the flags are read, write, execAll"],
      ['an unknown enum case', echo({ color: 'blue' }), "args[0].color: expected one of 'red' | 'green' | 'blue-ish', got 'blue'"],
      ['an unknown variant tag', echo({ shape: { tag: 'square', val: 1 } }), "args[0].shape.tag: expected one of 'circle' | 'rect' | 'nothing', got 'square'"],
      ['a payload for a case without one', echo({ shape: { tag: 'nothing', val: 1 } }), 'args[0].shape.val: the case has no payload, got 1'],
      ['a tuple of the wrong length', echo({ pair: ['a'] }), 'args[0].pair: expected a tuple (an array of 2), got an array of 1'],
      ['a flags value that is not boolean', echo({ perms: { read: 'yes' } }), "args[0].perms.read: expected a boolean, got 'yes'"],
      ['a result without a tag', echo({ outcome: 5 }), "args[0].outcome: expected { tag, val } with tag 'ok' | 'err', got 5"],
      ['a Map for a record', [new Map()], 'args[0]: expected a record (an object), got an object that is not a plain object'],
    ]
    test.each(cases)('%s', async (_, args, path) => {
      const e = await rejectsWith(rt.invoke(typed, `${API}echo`, args), 'ERR_INVALID_ARG_VALUE')
      expect(e.message).toContain(`invalid argument "value" of "${API}echo": ${path}`)
      expect(e.metrics ?? undefined).toEqual(expect.objectContaining({ runUs: 0 }))
    })

    test('the wrong number of arguments, a missing function, and args that are not an array', async () => {
      let e = await rejectsWith(rt.invoke(typed, `${API}add`, [1n]), 'ERR_INVALID_ARG_VALUE')
      expect(e.message).toBe(`"${API}add" takes 2 arguments (a: s64, b: u64), got 1`)
      e = await rejectsWith(rt.invoke(typed, `${API}nope`, []), 'ERR_WASM_NO_EXPORT')
      expect(e.message).toContain(`the guest has no function "${API}nope" to invoke; its functions: hello, execute, ${API}echo`)
      await rejectsWith(rt.invoke(typed, 'hello', 'you'), 'ERR_INVALID_ARG_TYPE')
      await rejectsWith(rt.invoke(typed, 'hello', ['x'], { export: 'hello' }), 'ERR_INVALID_ARG_VALUE')
      await rejectsWith(rt.invoke({}, 'hello', ['x']), 'ERR_INVALID_ARG_TYPE')
    })

    test('a function that returns a resource is listed, and invoke refuses it naming the resource', async () => {
      const info = typed.functions.find((f) => f.name === `${API}make-counter`)
      expect(info).toEqual({ name: `${API}make-counter`, params: [], result: 'counter' })
      expect(typed.functions.some((f) => f.name.includes('[method]') || f.name.includes('[constructor]'))).toBe(false)
      const e = await rejectsWith(rt.invoke(typed, `${API}make-counter`), 'ERR_WASM_NO_EXPORT')
      expect(e.message).toBe(
        `"${API}make-counter" cannot be invoked from JavaScript: its result (counter) holds an owned resource handle, and resources, futures and streams do not cross to JavaScript`,
      )
      expect(typed.wit).toContain('resource counter {')
    })

    test('a cyclic argument is refused, not followed', async () => {
      const cyclic = { ...EVERYTHING }
      cyclic.points = [cyclic]
      const e = await rejectsWith(rt.invoke(typed, `${API}echo`, [cyclic]), 'ERR_INVALID_ARG_VALUE')
      expect(e.message).toContain('args[0].points[0]')
    })
  })

  describe('long-lived instances', () => {
    test('instance.invoke keeps state between calls; a fresh invoke never does', async () => {
      const instance = await rt.instantiate(typed)
      expect(await instance.invoke(`${API}count`)).toBe(1)
      expect(await instance.invoke(`${API}count`)).toBe(2)
      expect(await instance.invoke(`${API}echo`, [EVERYTHING])).toEqual(EVERYTHING)
      expect(await instance.invoke(`${API}count`)).toBe(3)
      expect(await rt.invoke(typed, `${API}count`)).toBe(1)
      expect(await rt.invoke(typed, `${API}count`)).toBe(1)
      await rejectsWith(instance.invoke(`${API}add`, ['x', 1n]), 'ERR_INVALID_ARG_VALUE')
      await rejectsWith(instance.invoke(`${API}checked-div`, [1, 0]), 'ERR_WASM_GUEST_ERROR')
      // Neither a refused argument nor a guest error is a crash: the state is still there.
      expect(await instance.invoke(`${API}count`)).toBe(4)
      expect(instance.state).toBe('ready')
      await instance.dispose()
    })
  })
})

describe('precompiled, core modules and limits', () => {
  test('a precompiled component has no WIT; its functions are described from its types, and invoke works', async () => {
    const artifact = await rt.precompile(guest('typed/typed-c.wasm'))
    const m = await rt.loadPrecompiled(artifact, { imports: { [EDITOR]: editor } })
    expect(m.wit).toBeUndefined()
    const translate = m.functions.find((f) => f.name === `${API}translate`)
    expect(translate.params).toEqual([
      { name: 'points', type: 'list<record { x: s32, y: s32 }>' },
      { name: 'dx', type: 's32' },
    ])
    expect(await rt.invoke(m, `${API}translate`, [[{ x: 1, y: 1 }], 1])).toEqual([{ x: 2, y: 1 }])
    expect(await rt.invoke(m, `${API}line-via-editor`, ['p', 2])).toBe('p:2')
  })

  test('core modules: numeric exports only, no WIT', async () => {
    const m = await rt.loadModule(`(module
      (func (export "add") (param i32 i64) (result i64) (i64.add (i64.extend_i32_s (local.get 0)) (local.get 1)))
      (func (export "pair") (result f32 f64) (f32.const 1.5) (f64.const 2.25))
      (func (export "vec") (param v128)))`)
    expect(m.wit).toBeUndefined()
    expect(m.functions).toEqual([
      { name: 'add', params: [{ name: 'p0', type: 'i32' }, { name: 'p1', type: 'i64' }], result: 'i64' },
      { name: 'pair', params: [], result: 'tuple<f32, f64>' },
    ])
    expect(await rt.invoke(m, 'add', [-1, 2n ** 40n])).toBe(2n ** 40n - 1n)
    expect(await rt.invoke(m, 'add', [4294967295, 1])).toBe(0n)
    expect(await rt.invoke(m, 'pair')).toEqual([1.5, 2.25])
    const e = await rejectsWith(rt.invoke(m, 'vec', [0]), 'ERR_WASM_NO_EXPORT')
    expect(e.message).toContain('only numbers (i32, i64, f32, f64) cross')
  })

  test('limits, timeouts and the crash policy apply to invoke as to call', async () => {
    const m = await rt.loadModule(`(module
      (global $n (mut i32) (i32.const 0))
      (func (export "bump") (result i32) (global.set $n (i32.add (global.get $n) (i32.const 1))) (global.get $n))
      (func (export "spin") (loop (br 0)))
      (func (export "crash") (result i32) unreachable))`)
    await rejectsWith(rt.invoke(m, 'spin', [], { limits: { timeoutMs: 100 } }), 'ERR_WASM_TIMEOUT')
    await rejectsWith(rt.invoke(m, 'spin', [], { limits: { fuel: 10_000 } }), 'ERR_WASM_FUEL_EXHAUSTED')
    const changes = []
    const instance = await rt.instantiate(m, { restart: { backoffMs: 0 }, onStateChange: (c) => changes.push(c) })
    expect(await instance.invoke('bump')).toBe(1)
    expect(await instance.invoke('bump')).toBe(2)
    const e = await rejectsWith(instance.invoke('crash'), 'ERR_WASM_TRAP')
    expect(e.trap.kind).toBe('unreachable-code-reached')
    expect(changes.at(-1)).toMatchObject({ state: 'restarting', code: 'ERR_WASM_TRAP' })
    expect(await instance.invoke('bump')).toBe(1)
    await rejectsWith(instance.invoke('spin', [], { timeoutMs: 100 }), 'ERR_WASM_TIMEOUT')
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 100)
    await rejectsWith(instance.invoke('spin', [], { signal: controller.signal }), 'ERR_WASM_CANCELLED')
    await instance.dispose()
  })
})
})
