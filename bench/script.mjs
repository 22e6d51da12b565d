// Scripts bench (issue 27): JavaScript source on the built-in engine (QuickJS-ng compiled to
// WebAssembly, `loadScript`) against quickjs-emscripten 0.32 — what Node projects use for
// sandboxed JavaScript today — measured in the same run: a fresh sandbox per execution, a kept
// one, the JS thread's busy time per call (performance.eventLoopUtilization), the longest
// event-loop gap while a script spins 400 ms, and the first result in a fresh process.
// Run alone with BENCH_ONLY=script; part of `npm run bench`.
import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
const CALLS = Number(process.env.BENCH_SCRIPT_CALLS || 1000)

const SOURCE = 'export function execute(input) { return { words: input.text.split(/\\s+/).filter(Boolean).length } }'
// The same function for quickjs-emscripten, which evaluates scripts (ES modules need a loader).
const PLAIN = SOURCE.replace('export ', '')
const INPUT = { text: 'one two three four five six seven eight nine' }
const SPIN = 'export function execute() { const end = Date.now() + 400; let n = 0; while (Date.now() < end) n++; return n > 0 }'

const round = (n, d = 1) => Math.round(n * 10 ** d) / 10 ** d

async function measure(call) {
  for (let i = 0; i < Math.min(100, CALLS); i++) await call()
  const times = []
  const elu = performance.eventLoopUtilization()
  const t0 = performance.now()
  for (let i = 0; i < CALLS; i++) {
    const t = performance.now()
    await call()
    times.push((performance.now() - t) * 1000)
  }
  const busy = performance.eventLoopUtilization(elu).utilization * (performance.now() - t0) * 1000
  times.sort((a, b) => a - b)
  return { median: round(times[times.length >> 1]), p99: round(times[Math.floor(times.length * 0.99)]), busy: round(busy / CALLS) }
}

/** The longest gap between 1 ms timer ticks while `work` runs, in ms. */
async function longestGap(work) {
  let last = performance.now()
  let gap = 0
  const timer = setInterval(() => {
    const now = performance.now()
    gap = Math.max(gap, now - last)
    last = now
  }, 1)
  await new Promise((r) => setTimeout(r, 20))
  await work()
  clearInterval(timer)
  return round(Math.max(gap, performance.now() - last))
}

/** quickjs-emscripten: a fresh runtime + context per call, or one kept context. */
async function quickjsEmscripten() {
  const { getQuickJS } = require('quickjs-emscripten')
  const QuickJS = await getQuickJS()
  const run = (vm) => {
    const result = vm.evalCode(`JSON.stringify(execute(${JSON.stringify(INPUT)}))`)
    const value = vm.unwrapResult(result)
    const text = vm.getString(value)
    value.dispose()
    return JSON.parse(text)
  }
  const fresh = await measure(() => {
    const vm = QuickJS.newContext()
    vm.unwrapResult(vm.evalCode(PLAIN)).dispose()
    run(vm)
    vm.dispose()
  })
  const kept = QuickJS.newContext()
  kept.unwrapResult(kept.evalCode(PLAIN)).dispose()
  const warm = await measure(() => run(kept))
  kept.unwrapResult(kept.evalCode(SPIN.replace('export ', ''))).dispose()
  const gap = await longestGap(async () => kept.unwrapResult(kept.evalCode('execute()')).dispose())
  kept.dispose()
  return { fresh, warm, gap }
}

async function ours() {
  const { WasmRuntime } = require(join(root, 'index.js'))
  const runtime = new WasmRuntime()
  const script = await runtime.loadScript(SOURCE)
  const fresh = await measure(() => runtime.executeProbe(script, INPUT))
  const instance = await runtime.instantiate(script)
  const warm = await measure(() => instance.call('execute', INPUT))
  await instance.dispose()
  const spin = await runtime.loadScript(SPIN)
  const gap = await longestGap(() => runtime.executeProbe(spin, null, { limits: { timeoutMs: 5000, fuel: 1e12 } }))
  await runtime.close()
  return { fresh, warm, gap }
}

/** Milliseconds from a fresh Node process's start to its first result (median of 5). */
function firstResult(which) {
  const program =
    which === 'ours'
      ? `const t = performance.now(); const { WasmRuntime } = require(${JSON.stringify(join(root, 'index.js'))});
         const rt = new WasmRuntime(); rt.loadScript(${JSON.stringify(SOURCE)}).then((m) => rt.executeProbe(m, ${JSON.stringify(INPUT)}))
           .then(async (r) => { if (!r.success) throw new Error(r.error); console.log(performance.now() - t, process.memoryUsage().rss); await rt.close() })`
      : `const t = performance.now(); const { getQuickJS } = require('quickjs-emscripten');
         getQuickJS().then((Q) => { const vm = Q.newContext(); vm.unwrapResult(vm.evalCode(${JSON.stringify(PLAIN)})).dispose();
           vm.unwrapResult(vm.evalCode('execute(' + ${JSON.stringify(JSON.stringify(INPUT))} + ')')).dispose(); vm.dispose();
           console.log(performance.now() - t, process.memoryUsage().rss) })`
  const runs = []
  for (let i = 0; i < 5; i++) {
    const [ms, rss] = execFileSync(process.execPath, ['-e', program], { cwd: root, encoding: 'utf8' }).trim().split(' ').map(Number)
    runs.push({ ms, rss })
  }
  runs.sort((a, b) => a.ms - b.ms)
  return { ms: round(runs[2].ms), rssMb: round(runs[2].rss / 2 ** 20) }
}

export async function runScriptBench() {
  const a = await ours()
  const b = await quickjsEmscripten()
  const firstOurs = firstResult('ours')
  const firstPeer = firstResult('peer')
  const row = (label, x, y, unit = 'µs') => console.log(`${label.padEnd(44)} ${String(x + ' ' + unit).padEnd(14)} ${String(y + ' ' + unit).padEnd(14)} ${round(y / x, 2)}x`)
  console.log(`\nscripts: the built-in engine (loadScript) vs quickjs-emscripten 0.32 — ${CALLS} sequential calls each`)
  console.log(`${''.padEnd(44)} ${'ours'.padEnd(14)} ${'q-emscripten'.padEnd(14)} ratio (theirs / ours)`)
  row('fresh sandbox per execution, median', a.fresh.median, b.fresh.median)
  row('fresh sandbox per execution, p99', a.fresh.p99, b.fresh.p99)
  row('fresh sandbox, JS-thread busy per call', a.fresh.busy, b.fresh.busy)
  row('kept sandbox (instance / context), median', a.warm.median, b.warm.median)
  row('kept sandbox, JS-thread busy per call', a.warm.busy, b.warm.busy)
  row('longest event-loop gap, script spins 400 ms', a.gap, b.gap, 'ms')
  row('first result, fresh process (median of 5)', firstOurs.ms, firstPeer.ms, 'ms')
  row('RSS after the first result', firstOurs.rssMb, firstPeer.rssMb, 'MB')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await runScriptBench()
