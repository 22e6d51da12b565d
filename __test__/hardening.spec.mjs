// A careless or hostile caller and a hostile guest against the addon (issue 25): each row of that
// issue is a case here. A crash of the addon takes the whole VS Code extension host down, so
// every case runs in a child Node process under a watchdog: a dead child (a signal, an abort, an
// uncaught exception) or a hung one fails the case instead of the test runner. Each child prints
// one JSON line of what it saw as its last line.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { guest, root, watGuest } from './helpers.mjs'

const scratch = mkdtempSync(join(tmpdir(), 'wasm-probe-hardening-'))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

const API = 'test:typed/api@0.1.0#'
const EDITOR = 'test:typed/editor@0.1.0'

/**
 * Runs `body` (the inside of an async function; `WasmRuntime`, `guests`, `scratch`, `API`,
 * `EDITOR`, `outcome(promise)` and `report(value)` in scope) in a fresh Node process with
 * `watchdogMs` to finish. Resolves with { code, signal, stderr, timedOut, result }.
 */
function child(body, { watchdogMs = 30_000, env = {} } = {}) {
  const script = `
    const { createRequire } = require('node:module')
    const { WasmRuntime, WasmError } = require(${JSON.stringify(join(root, 'index.js'))})
    const guests = ${JSON.stringify({ typed: guest('typed/typed.wasm'), typedC: guest('typed/typed-c.wasm'), echo: watGuest('echo.wat'), wasi: guest('test-c/wasi.wasm'), loop: watGuest('loop.wat'), httpProxy: watGuest('http-proxy.wat') })}
    const scratch = ${JSON.stringify(scratch)}
    const API = ${JSON.stringify(API)}
    const EDITOR = ${JSON.stringify(EDITOR)}
    // What a promise settled with: { value } or { code, message } (code 'not-an-error' for a
    // rejection that is no Error).
    const outcome = (p) => Promise.resolve(p).then(
      (value) => ({ value }),
      (e) => (e instanceof Error ? { code: e.code, message: e.message } : { code: 'not-an-error' }),
    )
    const report = (value) => process.stdout.write('\\n' + JSON.stringify(value) + '\\n')
    ;(async () => { ${body} })().catch((e) => { console.error(e); process.exit(3) })
  `
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d) => (stdout += d))
    p.stderr.on('data', (d) => (stderr += d))
    let timedOut = false
    const watchdog = setTimeout(() => {
      timedOut = true
      p.kill('SIGKILL')
    }, watchdogMs)
    p.on('close', (code, signal) => {
      clearTimeout(watchdog)
      const last = stdout.trim().split('\n').pop()
      let result
      try {
        result = JSON.parse(last)
      } catch {
        result = undefined
      }
      resolve({ code, signal, stderr, timedOut, result })
    })
  })
}

/** The child ran to its end by itself, exit code 0, and reported; returns what it reported. */
function survived(run) {
  expect(run.timedOut, `the child hung; stderr: ${run.stderr}`).toBe(false)
  expect(run.signal, `the child died of a signal; stderr: ${run.stderr}`).toBe(null)
  expect(run.code, `the child exited ${run.code}; stderr: ${run.stderr}`).toBe(0)
  expect(run.result, 'the child reported nothing').toBeDefined()
  return run.result
}

describe('crashes (rows 1-3)', () => {
  test('1: a sparse array of 2^32-1 elements, as arguments or as an import answer, is refused, not allocated', async () => {
    const r = survived(
      await child(`
        const rt = new WasmRuntime()
        const m = await rt.loadModule(guests.typed, { imports: { [EDITOR]: {
          'get-line': () => new Array(2 ** 32 - 1), 'show-message': () => {}, 'read-document': () => '', 'offset-at': () => 0 } } })
        const args = await outcome(rt.invoke(m, API + 'add', new Array(2 ** 32 - 1)))
        const inner = new Array(2 ** 32 - 1)
        const nested = await outcome(rt.invoke(m, API + 'echo', [inner]))
        const answer = await outcome(rt.invoke(m, API + 'line-via-editor', ['a', 1]))
        const after = await outcome(rt.invoke(m, API + 'add', [2n, 3n]).then(String))
        await rt.close()
        report({ args, nested, answer, after })
      `),
    )
    expect(r.args.code).toBe('ERR_INVALID_ARG_VALUE')
    expect(r.nested.code).toBe('ERR_INVALID_ARG_VALUE')
    expect(r.nested.message).toMatch(/more than 1000000 items/)
    expect(r.answer.code).toMatch(/^ERR_WASM_/)
    expect(r.answer.message).toMatch(/more than 1000000 items/)
    expect(r.after.value).toBe('5')
  })

  test('2: a precompiled file rewritten or cut short after loading does not reach the running code', async () => {
    const r = survived(
      await child(`
        const fs = require('node:fs')
        const rt = new WasmRuntime()
        const file = require('node:path').join(scratch, 'echo.cwasm')
        fs.writeFileSync(file, await rt.precompile(guests.echo))
        const m = await rt.loadPrecompiled(file)
        fs.truncateSync(file, 0)
        const cut = await outcome(rt.executeProbe(m, { a: 1 }))
        fs.writeFileSync(file, Buffer.alloc(1 << 20, 0xcc))
        const rewritten = await outcome(rt.executeProbe(m, { b: 2 }))
        const reload = await outcome(rt.loadPrecompiled(file))
        await rt.close()
        report({ cut, rewritten, reload })
      `),
    )
    expect(r.cut.value.output).toEqual({ a: 1 })
    expect(r.rewritten.value.output).toEqual({ b: 2 })
    expect(r.reload.code).toBe('ERR_WASM_INVALID_MODULE')
  })

  test('3: answers and throws whose getters throw are answered to the guest, not thrown at the event loop', async () => {
    const r = survived(
      await child(`
        let uncaught = 0
        process.on('uncaughtException', () => uncaught++)
        const rt = new WasmRuntime()
        const editor = (getLine) => ({ [EDITOR]: { 'get-line': getLine, 'show-message': () => {}, 'read-document': () => '', 'offset-at': () => 0 } })
        const cases = {
          then: () => ({ get then() { throw new Error('then getter') } }),
          thenThrows: () => ({ then() { throw new Error('then throws') } }),
          message: () => { throw { get message() { throw new Error('x') }, get payload() { throw new Error('y') } } },
          proxy: () => { throw new Proxy({}, { has() { throw new Error('has trap') }, get() { throw new Error('get trap') } }) },
          rejectsProxy: () => Promise.reject(new Proxy({}, { getPrototypeOf() { throw new Error('proto trap') } })),
        }
        const seen = {}
        for (const [name, fn] of Object.entries(cases)) {
          const m = await rt.loadModule(guests.typed, { imports: editor(fn) })
          const t0 = Date.now()
          seen[name] = await outcome(rt.invoke(m, API + 'line-via-editor', ['a', 1], { limits: { timeoutMs: 20000 } }))
          seen[name].waitedMs = Date.now() - t0
        }
        await rt.close()
        report({ seen, uncaught })
      `),
    )
    expect(r.uncaught).toBe(0)
    for (const [name, seen] of Object.entries(r.seen)) {
      expect(seen.code, name).toMatch(/^ERR_WASM_/)
      // Answered at once, not at the 20 s deadline.
      expect(seen.code, name).not.toBe('ERR_WASM_TIMEOUT')
    }
  })
})

describe('hangs (rows 4-7)', () => {
  test('4: cyclic and hugely repetitive values are refused by name, not walked', async () => {
    const r = survived(
      await child(`
        const rt = new WasmRuntime()
        const root = { children: [] }
        root.children.push({ parent: root }, { parent: root })
        let dag = 'x'
        for (let i = 0; i < 40; i++) dag = [dag, dag]
        const m = await rt.loadModule(guests.typed, { imports: { [EDITOR]: {
          'get-line': () => dag, 'show-message': () => {}, 'read-document': () => '', 'offset-at': () => root } } })
        const cyclic = await outcome(rt.invoke(m, API + 'echo', [root]))
        const repeated = await outcome(rt.invoke(m, API + 'echo', [dag]))
        const answerRepeated = await outcome(rt.invoke(m, API + 'line-via-editor', ['a', 1]))
        const answerCyclic = await outcome(rt.invoke(m, API + 'offset-via-editor', [1, 2]))
        await rt.close()
        report({ cyclic, repeated, answerRepeated, answerCyclic })
      `),
    )
    expect(r.cyclic.code).toBe('ERR_INVALID_ARG_VALUE')
    expect(r.cyclic.message).toMatch(/^args\[0\]\.children\[0\]\.parent is a value it is part of \(a cycle\)/)
    expect(r.repeated.code).toBe('ERR_INVALID_ARG_VALUE')
    expect(r.answerRepeated.message).toMatch(/more than 1000000 items/)
    expect(r.answerCyclic.message).toMatch(/the value\.children\[0\]\.parent is a value it is part of \(a cycle\)/)
  })

  test('5: a guest with no capability looping on big random_get or probe.log calls does not hold the event loop', async () => {
    const r = survived(
      await child(`
        const wat = (call) => \`(module
          (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
          (import "probe" "log" (func $log (param i32 i32 i32)))
          (memory (export "memory") 256)
          (func (export "execute") (result i32)
            (loop $l \${call} (br $l))
            (i32.const 0)))\`
        const rt = new WasmRuntime()
        const seen = {}
        for (const [name, call] of [['random', '(drop (call $random (i32.const 0) (i32.const 15728640)))'], ['log', '(call $log (i32.const 1) (i32.const 0) (i32.const 15728640))']]) {
          const m = await rt.loadModule(wat(call))
          let last = performance.now()
          let longestGap = 0
          const timer = setInterval(() => {
            const now = performance.now()
            longestGap = Math.max(longestGap, now - last)
            last = now
          }, 5)
          const result = await outcome(rt.executeProbe(m, null, { limits: { timeoutMs: 1500 } }))
          clearInterval(timer)
          seen[name] = { code: result.code, longestGap }
        }
        await rt.close()
        report(seen)
      `),
    )
    for (const name of ['random', 'log']) {
      expect(r[name].code, name).toMatch(/^ERR_WASM_(TIMEOUT|FUEL_EXHAUSTED)$/)
      // Held for its whole 1.5 s timeout before; now timers run throughout.
      expect(r[name].longestGap, name).toBeLessThan(500)
    }
  })

  test('6: an option read through a getter is read once: a sync deadline cannot be 10 ms to the check and 5 s to the call', async () => {
    const r = survived(
      await child(`
        const rt = new WasmRuntime()
        const m = await rt.loadModule(guests.loop)
        let reads = 0
        const options = { get timeoutMs() { reads++; return reads === 1 ? 10 : 5000 } }
        const t0 = performance.now()
        let code
        try { rt.executeProbeSync(m, null, options) } catch (e) { code = e.code }
        const heldMs = performance.now() - t0
        await rt.close()
        report({ code, reads, heldMs })
      `),
    )
    expect(r.code).toBe('ERR_WASM_TIMEOUT')
    expect(r.reads).toBe(1)
    expect(r.heldMs).toBeLessThan(1000)
  })

  test('7: a FIFO, a device and a huge file are refused before reading; close() settles a load in flight', async () => {
    const r = survived(
      await child(`
        const fs = require('node:fs')
        const { join } = require('node:path')
        const fifo = join(scratch, 'a.fifo')
        require('node:child_process').execFileSync('mkfifo', [fifo])
        const huge = join(scratch, 'huge.wasm')
        fs.writeFileSync(huge, '')
        fs.truncateSync(huge, 6 * 2 ** 30)
        const rt = new WasmRuntime()
        const seen = {
          fifo: await outcome(rt.loadModule(fifo)),
          zero: await outcome(rt.loadModule('/dev/zero')),
          huge: await outcome(rt.loadModule(huge)),
          dir: await outcome(rt.loadPrecompiled(scratch)),
        }
        const load = outcome(rt.loadModule(guests.typed))
        await rt.close()
        seen.inFlight = await load
        report(seen)
      `),
    )
    expect(r.fifo.code).toBe('ERR_WASM_INVALID_MODULE')
    expect(r.fifo.message).toMatch(/not a regular file/)
    expect(r.zero.message).toMatch(/not a regular file/)
    expect(r.huge.message).toMatch(/more than the 256 MiB/)
    expect(r.dir.message).toMatch(/it is a directory/)
    expect(r.inFlight.code).toBe('ERR_WASM_CLOSED')
  })
})

describe('escalation and sharing (rows 8-10)', () => {
  test('8: a polluted Object.prototype grants nothing', async () => {
    const r = survived(
      await child(`
        const rt = new WasmRuntime()
        const wasi = await rt.loadModule(guests.wasi)
        const proxy = await rt.loadModule(guests.httpProxy)
        Object.prototype.fs = { preopens: [{ hostPath: '/', guestPath: '/' }] }
        Object.prototype.capabilities = { http: { allow: ['http://127.0.0.1'] } }
        Object.prototype.limits = { timeoutMs: 1 }
        const read = await outcome(rt.executeProbe(wasi, 'read:/etc/hostname', { capabilities: { http: { allow: ['http://127.0.0.1'] } } }))
        const fetched = await outcome(rt.executeProbe(proxy, { url: 'http://127.0.0.1:9/' }))
        delete Object.prototype.fs
        delete Object.prototype.capabilities
        delete Object.prototype.limits
        await rt.close()
        report({ read, fetched })
      `),
    )
    expect(r.read.value.output.ok).toBe(false)
    expect(r.read.value.output.content).toBeUndefined()
    expect(JSON.stringify(r.fetched.value.output)).toMatch(/denied/)
  })

  test('9: overlapping close() calls dispose every instance and let the process exit', async () => {
    const r = survived(
      await child(`
        const rt = new WasmRuntime()
        const m = await rt.loadModule(guests.echo)
        const instances = await Promise.all([1, 2, 3].map(() => rt.instantiate(m)))
        await Promise.all([rt.close(), rt.close(), rt.close()])
        const states = instances.map((i) => i.state)
        const stats = rt.stats()
        report({ states, instances: stats.instances, memory: stats.memoryBytes })
      `),
    )
    expect(r.states).toEqual(['disposed', 'disposed', 'disposed'])
    expect(r.instances).toBe(0)
    expect(r.memory).toBe(0)
  })

  test('10: one runtime holding 64 stores on a slow import leaves another runtime its executions', async () => {
    const r = survived(
      await child(`
        let release
        const gate = new Promise((resolve) => (release = resolve))
        const greedy = new WasmRuntime()
        const slow = await greedy.loadModule(guests.typed, { imports: { [EDITOR]: {
          'get-line': async () => { await gate; return 'late' }, 'show-message': () => {}, 'read-document': () => '', 'offset-at': () => 0 } } })
        const held = Array.from({ length: 64 }, () => outcome(greedy.invoke(slow, API + 'line-via-editor', ['a', 1])))
        await new Promise((r) => setTimeout(r, 300))
        const other = new WasmRuntime()
        const m = await other.loadModule(guests.echo)
        const t0 = performance.now()
        const async = await outcome(other.executeProbe(m, { n: 1 }))
        const asyncMs = performance.now() - t0
        let sync
        try { sync = other.executeProbeSync(m, { n: 2 }).output } catch (e) { sync = e.code }
        const greedyStats = greedy.stats()
        release()
        const settled = await Promise.all(held)
        await Promise.all([greedy.close(), other.close()])
        report({ async, asyncMs, sync, greedyActive: greedyStats.active, greedyQueued: greedyStats.queued, late: settled.filter((s) => s.value === 'late').length })
      `),
    )
    expect(r.async.value.output).toEqual({ n: 1 })
    expect(r.asyncMs).toBeLessThan(2000)
    expect(r.sync).toEqual({ n: 2 })
    expect(r.greedyQueued).toBeGreaterThan(0)
    expect(r.late).toBe(64)
  })
})

describe('wrong answers and small things (rows 11-12)', () => {
  test('11: an HTTP timeout past any deadline is refused by name, without a panic', async () => {
    const run = await child(`
      const rt = new WasmRuntime()
      const m = await rt.loadModule(guests.echo)
      const huge = await outcome(rt.executeProbe(m, null, { capabilities: { http: { allow: ['http://127.0.0.1'], timeoutMs: 9.3e21 } } }))
      const max = await outcome(rt.executeProbe(m, null, { capabilities: { http: { allow: ['http://127.0.0.1'], timeoutMs: Number.MAX_VALUE } } }))
      await rt.close()
      report({ huge, max })
    `)
    const r = survived(run)
    expect(r.huge.code).toBe('ERR_INVALID_ARG_VALUE')
    expect(r.huge.message).toMatch(/capabilities\.http\.timeoutMs/)
    expect(r.max.code).toBe('ERR_INVALID_ARG_VALUE')
    expect(run.stderr).not.toMatch(/panicked/)
  })

  test('12: disposed instances say so, detached buffers and empty cache dirs are named, messages are bounded, shared signals do not warn', async () => {
    const r = survived(
      await child(`
        const warnings = []
        process.on('warning', (w) => warnings.push(w.name))
        const seen = {}
        seen.cacheDir = await outcome((async () => new WasmRuntime({ cacheDir: '' }))())
        const rt = new WasmRuntime()
        const m = await rt.loadModule(guests.echo)
        const instance = await rt.instantiate(m)
        await Promise.all([instance.dispose(), instance.dispose()])
        try { instance.callSync('execute', null) } catch (e) { seen.callSync = { code: e.code, message: e.message } }
        seen.call = await outcome(instance.call('execute', null))
        const buffer = new ArrayBuffer(8)
        structuredClone(buffer, { transfer: [buffer] })
        seen.detached = await outcome(rt.loadModule(buffer))
        seen.longExport = await outcome(rt.executeProbe(m, null, { export: 'x'.repeat(10 << 20) }))
        seen.longExport.message = seen.longExport.message.length
        const controller = new AbortController()
        const all = await Promise.all(Array.from({ length: 30 }, (_, i) => outcome(rt.executeProbe(m, { i }, { signal: controller.signal }))))
        seen.shared = all.filter((a) => a.value).length
        await rt.close()
        await new Promise((r) => setImmediate(r))
        seen.warnings = warnings
        report(seen)
      `),
    )
    expect(r.cacheDir.code).toBe('ERR_INVALID_ARG_VALUE')
    expect(r.callSync.code).toBe('ERR_WASM_CLOSED')
    expect(r.callSync.message).toMatch(/instance has been disposed/)
    expect(r.call.code).toBe('ERR_WASM_CLOSED')
    expect(r.call.message).toMatch(/instance has been disposed/)
    expect(r.detached.code).toBe('ERR_INVALID_ARG_VALUE')
    expect(r.longExport.code).toBe('ERR_WASM_NO_EXPORT')
    expect(r.longExport.message).toBeLessThan(5000)
    expect(r.shared).toBe(30)
    expect(r.warnings).toEqual([])
  })
})
