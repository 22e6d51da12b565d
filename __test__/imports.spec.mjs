// JavaScript-implemented guest imports (contract §4b): the typed guest's `test:typed/editor`
// interface and core modules' own import modules, served by functions given at load, sync or
// async, replaceable per execution or instance. A function that throws, answers garbage or never
// answers is handled like a broken HTTP handler: the guest gets its `err` or the call fails, and
// the host never hangs.
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { TYPED_GUESTS, WasmRuntime, guest, rejectsWith, root } from './helpers.mjs'

const cacheDir = join(root, 'build', 'test-cache')
const API = 'test:typed/api@0.1.0#'
const EDITOR = 'test:typed/editor@0.1.0'
const typedPath = guest('typed/typed.wasm')

const editor = (overrides = {}) => ({
  'get-line': (uri, line) => `${uri}:${line}`,
  'show-message': () => {},
  'read-document': async (uri) => `contents of ${uri}`,
  'offset-at': (pos) => pos.line * 100 + pos.character,
  ...overrides,
})

let rt
beforeAll(() => {
  rt = new WasmRuntime({ cacheDir })
})
afterAll(() => rt.close())

const loadFrom = (path) => (impl) => rt.loadModule(path, { imports: { [EDITOR]: impl } })
const load = loadFrom(typedPath)

describe.each(TYPED_GUESTS)('%s guest', (_, file) => {
  const load = loadFrom(guest(file))

  describe('the guest calls JavaScript', () => {
    test('sync and async functions, with the arguments mapped by their WIT types', async () => {
      const seen = []
      const m = await load(
        editor({
          'get-line': async (uri, line) => {
            seen.push(['get-line', uri, line])
            await new Promise((r) => setTimeout(r, 20))
            return `line ${line} of ${uri}`
          },
          'offset-at': (pos) => {
            seen.push(['offset-at', pos])
            return pos.line * 1000 + pos.character
          },
          'show-message': (text) => {
            seen.push(['show-message', text])
          },
        }),
      )
      expect(await rt.invoke(m, `${API}line-via-editor`, ['a.ts', 7])).toBe('line 7 of a.ts')
      expect(await rt.invoke(m, `${API}offset-via-editor`, [3, 9])).toBe(3009)
      expect(await rt.invoke(m, `${API}notify`, ['saved'])).toBeUndefined()
      expect(seen).toEqual([
        ['get-line', 'a.ts', 7],
        ['offset-at', { line: 3, character: 9 }],
        ['show-message', 'saved'],
      ])
    })

    test("an import returning result: its value is ok, a throw is the guest's err", async () => {
      const thrown = new Error('no such document')
      const withPayload = Object.assign(new Error('ignored'), { payload: 'from payload' })
      const m = await load(
        editor({
          'read-document': async (uri) => {
            if (uri === 'missing') throw thrown
            if (uri === 'payload') throw withPayload
            return `text of ${uri}`
          },
        }),
      )
      expect(await rt.invoke(m, `${API}read-via-editor`, ['x.ts'])).toBe('text of x.ts')
      let e = await rejectsWith(rt.invoke(m, `${API}read-via-editor`, ['missing']), 'ERR_WASM_GUEST_ERROR')
      expect(e.payload).toBe('no such document')
      e = await rejectsWith(rt.invoke(m, `${API}read-via-editor`, ['payload']), 'ERR_WASM_GUEST_ERROR')
      expect(e.payload).toBe('from payload')
    })

    test('the event loop stays free while the guest waits on an import', async () => {
      // The answer needs five more turns of the event loop, each a new timer: it only comes if the
      // loop runs while the guest waits.
      const turns = (n) => new Promise((resolve) => (n === 0 ? resolve('after five turns') : setTimeout(() => turns(n - 1).then(resolve), 1)))
      const m = await load(editor({ 'get-line': () => turns(5) }))
      expect(await rt.invoke(m, `${API}line-via-editor`, ['a', 1])).toBe('after five turns')
    })

    test('concurrent executions each reach their own functions', async () => {
      const m = await load(editor())
      const results = await Promise.all(
        Array.from({ length: 24 }, (_, i) =>
          rt.invoke(m, `${API}line-via-editor`, ['doc', i], {
            imports: {
              [EDITOR]: {
                'get-line': async (uri, line) => {
                  await new Promise((r) => setTimeout(r, (i * 7) % 30))
                  return `${uri}#${line}#${i}`
                },
              },
            },
          }),
        ),
      )
      expect(results).toEqual(Array.from({ length: 24 }, (_, i) => `doc#${i}#${i}`))
    })
  })

  describe('broken JavaScript functions', () => {
    test('a throw from an import without an error channel fails the call with ERR_WASM_HOST', async () => {
      const m = await load(editor({ 'get-line': () => { throw new Error('editor is gone') } }))
      const e = await rejectsWith(rt.invoke(m, `${API}line-via-editor`, ['a', 1]), 'ERR_WASM_HOST')
      expect(e.message).toBe(`the JavaScript import ${EDITOR}#get-line threw: editor is gone`)
      const rejected = await load(editor({ 'get-line': () => Promise.reject(new Error('async gone')) }))
      const r = await rejectsWith(rt.invoke(rejected, `${API}line-via-editor`, ['a', 1]), 'ERR_WASM_HOST')
      expect(r.message).toContain('threw: async gone')
    })

    test('an answer that does not fit the WIT type fails the call, naming the import and the path', async () => {
      const m = await load(editor({ 'get-line': () => 42, 'offset-at': () => -1 }))
      let e = await rejectsWith(rt.invoke(m, `${API}line-via-editor`, ['a', 1]), 'ERR_WASM_HOST')
      expect(e.message).toBe(`the JavaScript import ${EDITOR}#get-line answered a value that does not fit its WIT type: result: expected string, got 42`)
      e = await rejectsWith(rt.invoke(m, `${API}offset-via-editor`, [1, 1]), 'ERR_WASM_HOST')
      expect(e.message).toContain('result: expected u32, got -1')
      const bad = await load(editor({ 'read-document': () => { throw Object.assign(new Error('x'), { payload: 7 }) } }))
      e = await rejectsWith(rt.invoke(bad, `${API}read-via-editor`, ['a']), 'ERR_WASM_HOST')
      expect(e.message).toContain('payload: expected string, got 7')
    })

    test('an import that never answers times out; the runtime goes on', async () => {
      const m = await load(editor({ 'get-line': () => new Promise(() => {}) }))
      const started = performance.now()
      await rejectsWith(rt.invoke(m, `${API}line-via-editor`, ['a', 1], { limits: { timeoutMs: 300 } }), 'ERR_WASM_TIMEOUT')
      expect(performance.now() - started).toBeLessThan(5000)
      const controller = new AbortController()
      setTimeout(() => controller.abort(), 100)
      await rejectsWith(rt.invoke(m, `${API}line-via-editor`, ['a', 1], { signal: controller.signal }), 'ERR_WASM_CANCELLED')
      expect(await rt.invoke(m, 'hello', ['still here'])).toBe('hello, still here')
      expect(rt.stats().active).toBe(0)
    })

    test('on a long-lived instance a failed import is a crash: the instance restarts fresh', async () => {
      let fail = false
      const m = await load(editor({ 'get-line': () => { if (fail) throw new Error('down'); return 'ok' } }))
      const changes = []
      const instance = await rt.instantiate(m, { restart: { backoffMs: 0 }, onStateChange: (c) => changes.push(c) })
      expect(await instance.invoke(`${API}count`)).toBe(1)
      expect(await instance.invoke(`${API}line-via-editor`, ['a', 1])).toBe('ok')
      fail = true
      await rejectsWith(instance.invoke(`${API}line-via-editor`, ['a', 1]), 'ERR_WASM_HOST')
      expect(changes.at(-1)).toMatchObject({ state: 'restarting', code: 'ERR_WASM_HOST' })
      expect(await instance.invoke(`${API}count`)).toBe(1)
      await instance.dispose()
    })
  })
})

describe('the link is checked at load', () => {
  test('an import neither the runtime nor imports provides rejects ERR_WASM_LINK naming it', async () => {
    let e = await rejectsWith(rt.loadModule(typedPath), 'ERR_WASM_LINK')
    expect(e.message).toContain(`${EDITOR}#get-line`)
    const partial = editor()
    delete partial['offset-at']
    e = await rejectsWith(load(partial), 'ERR_WASM_LINK')
    expect(e.message).toBe(`the guest imports ${EDITOR}#offset-at that neither the runtime nor options.imports provides`)
  })

  test('functions the guest does not import, and values that are not functions, are refused', async () => {
    let e = await rejectsWith(load(editor({ 'get-lines': () => '' })), 'ERR_INVALID_ARG_VALUE')
    expect(e.message).toContain(`options.imports['${EDITOR}']['get-lines']`)
    expect(e.message).toContain('the guest imports no such function')
    e = await rejectsWith(load(editor({ 'get-line': 'not a function' })), 'ERR_INVALID_ARG_TYPE')
    expect(e.message).toContain(`options.imports['${EDITOR}']['get-line']`)
    await rejectsWith(rt.loadModule(typedPath, { imports: [] }), 'ERR_INVALID_ARG_TYPE')
  })

  test('per execution and per instance, functions are replaced but never added', async () => {
    const m = await load(editor())
    const replaced = { imports: { [EDITOR]: { 'get-line': () => 'replaced' } } }
    expect(await rt.invoke(m, `${API}line-via-editor`, ['a', 1], replaced)).toBe('replaced')
    expect(await rt.invoke(m, `${API}line-via-editor`, ['a', 1])).toBe('a:1')
    const instance = await rt.instantiate(m, replaced)
    expect(await instance.invoke(`${API}line-via-editor`, ['a', 1])).toBe('replaced')
    expect(await instance.invoke(`${API}offset-via-editor`, [1, 2])).toBe(102)
    await instance.dispose()
    const e = await rejectsWith(
      rt.invoke(m, `${API}line-via-editor`, ['a', 1], { imports: { 'other:pkg/x': { f: () => 1 } } }),
      'ERR_INVALID_ARG_VALUE',
    )
    expect(e.message).toContain('can only replace the functions its module was loaded with')
  })
})

describe('core modules', () => {
  const wat = `(module
    (import "env" "add" (func $add (param i32 i32) (result i32)))
    (import "env" "wide" (func $wide (param i64) (result i64)))
    (func (export "sum") (param i32 i32) (result i32) (call $add (local.get 0) (local.get 1)))
    (func (export "twice") (param i64) (result i64) (call $wide (local.get 0))))`

  test('numbers cross both ways, i64 as bigint; the link names a missing function', async () => {
    const m = await rt.loadModule(wat, { imports: { env: { add: (a, b) => a + b, wide: async (n) => n * 2n } } })
    expect(m.functions.map((f) => f.name)).toEqual(['sum', 'twice'])
    expect(await rt.invoke(m, 'sum', [40, 2])).toBe(42)
    expect(await rt.invoke(m, 'twice', [2n ** 40n])).toBe(2n ** 41n)
    const e = await rejectsWith(rt.loadModule(wat, { imports: { env: { add: (a, b) => a + b } } }), 'ERR_WASM_LINK')
    expect(e.message).toContain('env::wide')
  })

  test('a throw or a non-number answer fails the call with ERR_WASM_HOST', async () => {
    const m = await rt.loadModule(wat, { imports: { env: { add: () => 'three', wide: () => { throw new Error('nope') } } } })
    let e = await rejectsWith(rt.invoke(m, 'sum', [1, 2]), 'ERR_WASM_HOST')
    expect(e.message).toBe("the JavaScript import env.add answered a value that does not fit: result[0]: expected i32, got 'three'")
    e = await rejectsWith(rt.invoke(m, 'twice', [1n]), 'ERR_WASM_HOST')
    expect(e.message).toBe('the JavaScript import env.wide threw: nope')
  })

  test('a probe export may call JavaScript too', async () => {
    const probe = `(module
      (import "probe" "output_write" (func $out (param i32 i32)))
      (import "host" "answer" (func $answer (result i32)))
      (memory (export "memory") 1)
      (func (export "execute") (result i32)
        (i32.store8 (i32.const 0) (i32.add (i32.const 48) (call $answer)))
        (call $out (i32.const 0) (i32.const 1))
        (i32.const 0)))`
    const m = await rt.loadModule(probe, { imports: { host: { answer: () => 7 } } })
    expect((await rt.executeProbe(m)).output).toBe(7)
  })
})
