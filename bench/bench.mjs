// npm run bench: what a trivial executeProbe round trip costs, next to Node's own WebAssembly
// running the same guest in a worker_threads worker, measured in the same run on this machine.
//
// Reported: median and p99 latency of sequential round trips, calls/s with many calls in flight,
// the worst event-loop delay while our calls run, how far past its deadline a looping guest is
// stopped, and what loading and running the componentize-js guest costs. Then bench/loading.mjs
// (tiered compilation: time to first result, RSS, event-loop delay, CPU speed per tier).

import { execFileSync } from 'node:child_process'
import { createServer } from 'node:http'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { createRequire } from 'node:module'
import { join, dirname } from 'node:path'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { parse as watToWasm } from '@bytecodealliance/jco'
import { keptInstance, runFresh } from './v8-probe.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
const { WasmRuntime } = require(join(root, 'index.js'))

const SEQUENTIAL = Number(process.env.BENCH_CALLS || 5000)
const WARMUP = 500
const IN_FLIGHT = 64
const THROUGHPUT_MS = Number(process.env.BENCH_THROUGHPUT_MS || 3000)
const WORKERS = 2

// The trivial probe: copies its input JSON to its output.
const ECHO_WAT = readFileSync(join(root, '__test__', 'guests', 'echo.wat'), 'utf8')

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
const round = (n, d = 1) => Math.round(n * 10 ** d) / 10 ** d

async function sequential(call) {
  for (let i = 0; i < WARMUP; i++) await call(i)
  const times = new Float64Array(SEQUENTIAL)
  for (let i = 0; i < SEQUENTIAL; i++) {
    const t = performance.now()
    await call(i)
    times[i] = (performance.now() - t) * 1000
  }
  const sorted = [...times].sort((a, b) => a - b)
  return { medianUs: percentile(sorted, 50), p99Us: percentile(sorted, 99) }
}

/** The JS thread's busy time per call over `n` sequential calls (performance.eventLoopUtilization). */
async function busyPerCall(call, n = 2000) {
  for (let i = 0; i < 200; i++) await call(i)
  const start = performance.eventLoopUtilization()
  for (let i = 0; i < n; i++) await call(i)
  return (performance.eventLoopUtilization(start).active * 1000) / n
}

/** Event-loop delay (p99 and max, ms) while calls arrive at `rate` per second for `ms`, 10 per
 *  1 ms timer tick, each awaited by its own caller (an editor's handlers under typing). */
async function delayUnderLoad(call, rate = 10_000, ms = 2000) {
  const delay = monitorEventLoopDelay({ resolution: 1 })
  const perTick = Math.max(1, Math.round(rate / 1000))
  const inFlight = new Set()
  let issued = 0
  delay.enable()
  const started = performance.now()
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      // Catch up on the rate the timer's own lateness lost, as real arrivals would.
      const due = Math.floor(((performance.now() - started) * rate) / 1000)
      for (let n = 0; n < Math.max(perTick, due - issued); n++) {
        const p = call(issued++).finally(() => inFlight.delete(p))
        inFlight.add(p)
      }
      if (performance.now() - started >= ms) {
        clearInterval(timer)
        resolve()
      }
    }, 1)
  })
  await Promise.all(inFlight)
  delay.disable()
  return { p99Ms: delay.percentile(99) / 1e6, maxMs: delay.max / 1e6, offered: Math.round((issued * 1000) / (performance.now() - started)) }
}

async function throughput(call) {
  let done = 0
  let stop = false
  const deadline = performance.now() + THROUGHPUT_MS
  async function lane(id) {
    let i = id
    while (!stop) {
      await call(i)
      i += IN_FLIGHT
      done++
      if (performance.now() >= deadline) stop = true
    }
  }
  const t = performance.now()
  await Promise.all(Array.from({ length: IN_FLIGHT }, (_, i) => lane(i)))
  return done / ((performance.now() - t) / 1000)
}

function v8Pool(bytes) {
  const module = new WebAssembly.Module(bytes)
  const workers = Array.from({ length: WORKERS }, () => new Worker(join(root, 'bench', 'v8-worker.mjs'), { workerData: { module } }))
  const pending = new Map()
  let next = 0
  for (const w of workers) {
    w.on('message', ({ id, status, output }) => {
      const resolve = pending.get(id)
      pending.delete(id)
      resolve({ success: status === 0, output: output === undefined ? undefined : JSON.parse(output) })
    })
  }
  return {
    call(input) {
      const id = next++
      return new Promise((resolve) => {
        pending.set(id, resolve)
        workers[id % WORKERS].postMessage({ id, input: JSON.stringify(input) })
      })
    },
    close: () => Promise.all(workers.map((w) => w.terminate())),
  }
}

async function main() {
  const rt = new WasmRuntime({ workerThreads: WORKERS })
  const echo = await rt.loadModule(Buffer.from(ECHO_WAT))
  const ours = (i) => rt.executeProbe(echo, { i })
  const check = await ours(7)
  if (check.output.i !== 7) throw new Error('our echo probe is broken')

  // The same runtime with inline execution off: every execution starts on the pool.
  const pooledRt = new WasmRuntime({ workerThreads: WORKERS, inline: false })
  const pooledEcho = await pooledRt.loadModule(Buffer.from(ECHO_WAT))
  const pooled = (i) => pooledRt.executeProbe(pooledEcho, { i })

  const pool = v8Pool(await watToWasm(ECHO_WAT))
  const theirs = (i) => pool.call({ i })
  if ((await theirs(7)).output.i !== 7) throw new Error('the V8 echo probe is broken')

  console.log(`wasm-probe-runtime bench — node ${process.version}, ${WORKERS} worker threads each side`)
  console.log(`trivial probe (echo of a small JSON input), fresh instance per call\n`)

  const oursSeq = await sequential(ours)
  const pooledSeq = await sequential(pooled)
  const theirsSeq = await sequential(theirs)
  const oursBusy = await busyPerCall(ours)
  const pooledBusy = await busyPerCall(pooled)
  const theirsBusy = await busyPerCall(theirs)
  const inlineShare = rt.stats().inlineExecutions / rt.stats().executions
  const delay = monitorEventLoopDelay({ resolution: 1 })
  delay.enable()
  const oursRate = await throughput(ours)
  delay.disable()
  const theirDelay = monitorEventLoopDelay({ resolution: 1 })
  theirDelay.enable()
  const theirsRate = await throughput(theirs)
  theirDelay.disable()

  const pooledRate = await throughput(pooled)
  const rows = [
    ['', 'wasm-probe-runtime', '(inline: false)', 'V8 in worker_threads', 'ratio (ours / V8)'],
    ['median round trip (µs)', round(oursSeq.medianUs), round(pooledSeq.medianUs), round(theirsSeq.medianUs), `${round(theirsSeq.medianUs / oursSeq.medianUs, 2)}x faster`],
    ['p99 round trip (µs)', round(oursSeq.p99Us), round(pooledSeq.p99Us), round(theirsSeq.p99Us), `${round(theirsSeq.p99Us / oursSeq.p99Us, 2)}x faster`],
    ['JS-thread busy per call (µs)', round(oursBusy), round(pooledBusy), round(theirsBusy), `${round(theirsBusy / oursBusy, 2)}x less`],
    [`calls/s, ${IN_FLIGHT} in flight`, Math.round(oursRate), Math.round(pooledRate), Math.round(theirsRate), `${round(oursRate / theirsRate, 2)}x more`],
  ]
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)))
  for (const r of rows) console.log(r.map((v, c) => String(v).padEnd(widths[c])).join('  '))
  console.log(`(${round(inlineShare * 100)}% of these executions finished inline, on the JS thread)`)
  // A computing guest (~20 ms of work) starts on the JS thread too: it must leave after one
  // slice. The longest event-loop delay while 20 of them run one after another, inline on/off.
  const SPIN = `(module (memory (export "memory") 1)
    (func (export "execute") (result i32) (local $i i32)
      (local.set $i (i32.const 20000000))
      (loop $l (local.set $i (i32.sub (local.get $i) (i32.const 1))) (br_if $l (local.get $i)))
      (i32.const 0)))`
  for (const [label, runtime] of [['ours', rt], ['ours, inline: false', pooledRt]]) {
    const spin = await runtime.loadModule(Buffer.from(SPIN))
    await runtime.executeProbe(spin)
    const h = monitorEventLoopDelay({ resolution: 1 })
    const before = runtime.stats().inlineExecutions
    h.enable()
    for (let i = 0; i < 20; i++) await runtime.executeProbe(spin)
    h.disable()
    console.log(
      `a computing guest (20 runs of ~${round((await runtime.executeProbe(spin)).metrics.runUs / 1000, 1)} ms), ${label}: longest event-loop delay ${round(h.max / 1e6, 2)} ms; ` +
        `finished inline: ${runtime.stats().inlineExecutions - before} of 20`,
    )
  }
  for (const [label, call] of [['ours', ours], ['ours, inline: false', pooled], ['V8 workers', theirs]]) {
    const d = await delayUnderLoad(call)
    console.log(`event-loop delay at 10 000 calls/s offered (${d.offered}/s issued), ${label}: p99 ${round(d.p99Ms, 2)} ms, max ${round(d.maxMs, 2)} ms`)
  }
  await pooledRt.close()
  await pooledRt.close()
  const ms = (h, p) => round((p === undefined ? h.max : h.percentile(p)) / 1e6, 2)
  console.log(
    `\nevent-loop delay with ${IN_FLIGHT} calls in flight (the bench loop itself keeps the JS thread busy): ` +
      `ours p99 ${ms(delay, 99)} ms, max ${ms(delay)} ms; V8 workers p99 ${ms(theirDelay, 99)} ms, max ${ms(theirDelay)} ms`,
  )

  // Synchronous calls on the JS thread: executeProbeSync (a fresh isolated instance, limits and
  // all) next to V8 instantiating the same module on the JS thread, JSON in and out both sides.
  const echoModule = new WebAssembly.Module(await watToWasm(ECHO_WAT))
  const oursSync = await sequential((i) => rt.executeProbeSync(echo, { i }))
  const theirsSync = await sequential((i) => {
    const { output } = runFresh(echoModule, JSON.stringify({ i }))
    return JSON.parse(output)
  })
  console.log(
    `synchronous, fresh instance per call: executeProbeSync median ${round(oursSync.medianUs)} µs (p99 ${round(oursSync.p99Us)}), ` +
      `V8 on the JS thread median ${round(theirsSync.medianUs)} µs (p99 ${round(theirsSync.p99Us)}) => ${round(theirsSync.medianUs / oursSync.medianUs, 2)}x`,
  )
  // A warm instance called synchronously: callSync (limits, deadline, crash policy) next to V8
  // calling one kept instance on the JS thread with no isolation at all.
  const warmSync = await rt.instantiate(echo)
  const oursCallSync = await sequential((i) => warmSync.callSync('execute', { i }))
  const keptCall = keptInstance(echoModule)
  const theirsCallSync = await sequential((i) => JSON.parse(keptCall(JSON.stringify({ i })).output))
  console.log(
    `synchronous, warm instance: callSync median ${round(oursCallSync.medianUs, 1)} µs (p99 ${round(oursCallSync.p99Us, 1)}), ` +
      `V8 calling a kept instance on the JS thread median ${round(theirsCallSync.medianUs, 1)} µs (p99 ${round(theirsCallSync.p99Us, 1)}) => ` +
      `ours ${round(oursCallSync.medianUs / theirsCallSync.medianUs, 2)}x its time`,
  )
  await warmSync.dispose()

  // Median of many sequential executions: one sample right after the concurrent phase above
  // mostly measures threads waking up.
  const inst = []
  const runs = []
  for (let i = 0; i < 1000; i++) {
    const { metrics } = await rt.executeProbe(echo, { i })
    inst.push(metrics.instantiateUs)
    runs.push(metrics.runUs)
  }
  inst.sort((a, b) => a - b)
  runs.sort((a, b) => a - b)
  console.log(
    `warm executions inside the runtime (median of 1000): instantiate ${round(percentile(inst, 50), 1)} µs, run ${round(percentile(runs, 50), 1)} µs`,
  )

  // Guest -> Node HTTP: one request to a loopback server from inside a probe, next to the same
  // request made directly with Node's fetch, and the same probe run without a request.
  const server = createServer((req, res) => res.end('ok'))
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${server.address().port}`
  const proxy = await rt.loadModule(join(root, '__test__', 'guests', 'http-proxy.wat'))
  const grant = { capabilities: { http: { allow: [origin] } } }
  const HTTP_CALLS = 1000
  const timeIt = async (fn) => {
    for (let i = 0; i < 100; i++) await fn()
    const t = []
    for (let i = 0; i < HTTP_CALLS; i++) {
      const s = performance.now()
      await fn()
      t.push((performance.now() - s) * 1000)
    }
    return percentile(t.sort((a, b) => a - b), 50)
  }
  const viaGuest = await timeIt(async () => {
    const r = await rt.executeProbe(proxy, { url: `${origin}/` }, grant)
    if (r.output.ok.body !== 'ok') throw new Error('bad proxy answer')
  })
  const direct = await timeIt(async () => {
    const r = await fetch(`${origin}/`)
    if ((await r.text()) !== 'ok') throw new Error('bad direct answer')
  })
  const denied = await timeIt(() => rt.executeProbe(proxy, { url: `${origin}/` }))
  server.close()
  console.log(
    `HTTP GET to a loopback server, median of ${HTTP_CALLS}: from a guest ${round(viaGuest)} µs per execution ` +
      `(the same execution without a grant, so without the request: ${round(denied)} µs), directly with Node's fetch ${round(direct)} µs ` +
      `=> the guest->Node round trip adds ${round(viaGuest - denied - direct)} µs to the request itself`,
  )

  // One log call: 1000 records written in one execution, with and without a live listener.
  const logs = (n) =>
    rt.loadModule(
      Buffer.from(`(module
        (import "probe" "log" (func $log (param i32 i32 i32)))
        (memory (export "memory") 1)
        (data (i32.const 0) "a log line of some forty bytes, give or take")
        (func (export "execute") (local $i i32)
          (block $done (loop $l
            (br_if $done (i32.ge_u (local.get $i) (i32.const ${n})))
            (call $log (i32.const 2) (i32.const 0) (i32.const 44))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $l)))))`),
    )
  const logMany = await logs(1000)
  const logNone = await logs(0)
  const runUs = async (m, options) => {
    const t = []
    for (let i = 0; i < 200; i++) t.push((await rt.executeProbe(m, null, options)).metrics.runUs)
    return percentile(t.sort((a, b) => a - b), 50)
  }
  const base = await runUs(logNone)
  const quiet = (await runUs(logMany)) - base
  const listened = (await runUs(logMany, { onLog: () => {} })) - base
  console.log(`one log call (guest side, median over 1000-record executions): ${round(quiet)} ns kept with the result, ${round(listened)} ns with a live onLog listener`)

  // A long-lived instance: one warm call, next to a fresh-instance executeProbe of the same guest.
  const warm = await rt.instantiate(echo)
  const callSeq = await sequential((i) => warm.call('execute', { i }))
  console.log(
    `one call on a warm long-lived instance: median ${round(callSeq.medianUs)} µs, p99 ${round(callSeq.p99Us)} µs ` +
      `(executeProbe with a fresh instance: median ${round(oursSeq.medianUs)} µs)`,
  )
  await warm.dispose()

  // Cancellation: from AbortController.abort() to the rejection, for a guest computing and for a
  // guest waiting in a host call (an HTTP handler that never answers).
  const hanging = new WasmRuntime({ http: () => new Promise(() => {}) })
  const spin = await hanging.loadModule(join(root, '__test__', 'guests', 'loop.wat'))
  const waiting = await hanging.loadModule(join(root, '__test__', 'guests', 'http-proxy.wat'))
  const cancelLatency = async (m, input, options) => {
    const times = []
    for (let i = 0; i < 20; i++) {
      const ac = new AbortController()
      const p = hanging.executeProbe(m, input, { ...options, signal: ac.signal }).catch((e) => e.code)
      await new Promise((r) => setTimeout(r, 10))
      const t = performance.now()
      ac.abort()
      if ((await p) !== 'ERR_WASM_CANCELLED') throw new Error('not cancelled')
      times.push(performance.now() - t)
    }
    times.sort((a, b) => a - b)
    return `median ${round(percentile(times, 50), 2)} ms, worst ${round(times.at(-1), 2)} ms`
  }
  const computing = await cancelLatency(spin, null, {})
  const inHostCall = await cancelLatency(waiting, { url: 'http://127.0.0.1:9/' }, { capabilities: { http: { allow: ['http://127.0.0.1:9'] } } })
  console.log(`cancel latency (abort() to rejection, 20 each): computing guest ${computing}; guest waiting in a host call ${inHostCall}`)
  await hanging.close()

  // How promptly a guest that never ends is stopped at its deadline.
  const loop = await rt.loadModule(join(root, '__test__', 'guests', 'loop.wat'))
  const overshoot = []
  for (let i = 0; i < 20; i++) {
    const t = performance.now()
    await rt.executeProbe(loop, null, { limits: { timeoutMs: 50 } }).catch((e) => {
      if (e.code !== 'ERR_WASM_TIMEOUT') throw e
    })
    overshoot.push(performance.now() - t - 50)
  }
  overshoot.sort((a, b) => a - b)
  console.log(`infinite loop with timeoutMs 50: stopped ${round(percentile(overshoot, 50), 2)} ms past the deadline (median), ${round(overshoot.at(-1), 2)} ms (worst of 20)`)

  // The componentize-js guest: compile once (off the JS thread), then warm executions.
  const jsPath = join(root, 'build', 'guests', 'js', 'greet.wasm')
  const size = readFileSync(jsPath).length
  const cold = new WasmRuntime()
  let t = performance.now()
  const js = await cold.loadModule(jsPath)
  const loadMs = performance.now() - t
  t = performance.now()
  await cold.loadModule(jsPath)
  const reloadMs = performance.now() - t
  const jsTimes = []
  for (let i = 0; i < 200; i++) {
    const s = performance.now()
    await cold.executeProbe(js, { name: 'bench' })
    jsTimes.push((performance.now() - s) * 1000)
  }
  jsTimes.sort((a, b) => a - b)
  const last = await cold.executeProbe(js, { name: 'bench' })
  console.log(
    `componentize-js guest (${round(size / 1e6, 1)} MB): first load ${round(loadMs)} ms, load again ${round(reloadMs, 2)} ms, ` +
      `execute median ${round(percentile(jsTimes, 50))} µs (instantiate ${round(last.metrics.instantiateUs)} µs)`,
  )

  // A new process with a warm cacheDir: the compiled component comes from disk.
  const cacheDir = mkdtempSync(join(tmpdir(), 'wasm-probe-bench-cache-'))
  const timedLoad = `
    const { WasmRuntime } = require(${JSON.stringify(join(root, 'index.js'))})
    ;(async () => {
      const rt = new WasmRuntime({ cacheDir: ${JSON.stringify(cacheDir)} })
      const t = performance.now()
      await rt.loadModule(${JSON.stringify(jsPath)})
      console.log(JSON.stringify({ ms: performance.now() - t, hits: rt.stats().cacheHits }))
      await rt.close()
    })()`
  const fresh = () => JSON.parse(execFileSync(process.execPath, ['-e', timedLoad], { encoding: 'utf8' }))
  const filling = fresh()
  const fromDisk = fresh()
  rmSync(cacheDir, { recursive: true, force: true })
  console.log(
    `  with cacheDir, in a new process: ${round(filling.ms)} ms to compile and store, then ${round(fromDisk.ms, 2)} ms to load from disk (cache hit: ${fromDisk.hits === 1})`,
  )

  await cold.close()
  await pool.close()
  await rt.close()
}

// BENCH_ONLY=main, =capacity, =typed, =script, =loading or =vscode runs just that part (this
// file's main, bench/capacity.mjs, bench/typed.mjs, bench/script.mjs, bench/loading.mjs,
// bench/vscode-host.mjs); otherwise they all follow the main bench.
const only = process.env.BENCH_ONLY
;(only && only !== 'main' ? Promise.resolve() : main())
  .then(async () => (!only || only === 'capacity') && (await import('./capacity.mjs')).runCapacityBench())
  .then(async () => (!only || only === 'typed') && (await import('./typed.mjs')).runTypedBench())
  .then(async () => (!only || only === 'script') && (await import('./script.mjs')).runScriptBench())
  .then(async () => (!only || only === 'loading') && (await import('./loading.mjs')).runLoadingBench())
  // The VS Code host needs Linux (scripts/vscode-host/install.mjs); elsewhere it is left out unless asked for.
  .then(async () => (only === 'vscode' || (!only && process.platform === 'linux')) && (await import('./vscode-host.mjs')).runVsCodeHostBench())
  .catch((e) => {
    console.error(e)
    process.exit(1)
  })
