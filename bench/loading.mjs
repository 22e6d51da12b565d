// Loading bench (issue 10): how soon a large guest gives its first result, what it costs in
// memory and in JS-thread blocking, per compiler setting, next to the same component on jco +
// Node's V8; and how fast CPU-bound code runs on each tier.
//
//   node bench/loading.mjs                  (also the last part of `npm run bench`;
//   BENCH_ONLY=loading npm run bench         runs only this part)
//   BENCH_LOADING_RUNS=5 node bench/loading.mjs   (fresh-process repetitions, default 3)
//   BENCH_LOADING_GUEST=other.wasm                (another component exporting `execute`)
//
// Measured, each in a FRESH Node process (bench/loading-child.mjs), medians over the runs:
//   - the 12 MB componentize-js guest build/guests/js/greet.wasm with input { name: 'Grace' }:
//     time from just before loadModule to the first resolved executeProbe, with an empty
//     cacheDir and compiler 'auto', 'baseline', 'optimizing'; in 'auto' also until
//     whenOptimized() resolves. `require(index.js)` and `new WasmRuntime()` are timed apart.
//   - from the disk cache: a second process ('auto') on the cacheDir of the 'auto' run, which
//     waited for whenOptimized() and closed its runtime, so the optimized entry is on disk.
//   - from a precompiled artifact: precompile() once in this process into a temp file, then
//     loadPrecompiled(path) in a fresh process.
//   - RSS (process.memoryUsage().rss) after require (the baseline), after the first result and,
//     for 'auto', after whenOptimized + one more execution. Compilation of large guests runs in
//     a separate compile-worker process (lib/compile-worker.js), whose memory is not included.
//   - the longest event-loop delay from just before the load to the first result:
//     monitorEventLoopDelay({ resolution: 1 }).max, and the largest gap of a 1 ms setInterval.
//   - the peer: the component transpiled once by jco (build/bench/jco-greet/, its probe:runtime
//     imports mapped to the trivial bench/jco-shim.js), from just before the dynamic import() of
//     the transpiled module (V8 compiles and instantiates the core wasm there) to the first
//     result of its `execute` export, run on the JS thread as jco does.
//   - bench/guests/cpu.c (sieve + Mandelbrot, built with the project's clang into build/bench/):
//     median guest run time (metrics.runUs) of 15 executions after 2 warm-up ones, with
//     'baseline', 'optimizing', and 'auto' after whenOptimized() with
//     WASM_PROBE_TIERING_MIN_BYTES=0 (so this small guest starts on baseline and tiers up); the
//     peer column is the same core module on Node's V8, a fresh instance per call.
// Ratios: "ours N x faster/slower" (times) and "ours N x less/more" (memory) against the peer.
// Cost: Cranelift compiles this guest twice per run ('optimizing', the 'auto' tier-up) plus
// once for precompile(); on a 2-core machine that is ~80 s per run, ~4.5 min at the default 3.

import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { wasmClang } from '../scripts/wasm-clang.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')
const out = join(root, 'build', 'bench')
const greet = process.env.BENCH_LOADING_GUEST || join(root, 'build', 'guests', 'js', 'greet.wasm')
const child = join(here, 'loading-child.mjs')
const INPUT = { name: 'Grace' }
const CPU_INPUT = { rounds: 3 }
const CPU_CALLS = 15

const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : 0)
const stale = (output, inputs) => mtime(output) === 0 || Math.max(...inputs.map(mtime)) > mtime(output)
const median = (xs) => {
  const s = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b)
  if (s.length === 0) return undefined
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const mostCommon = (xs) => {
  const counts = new Map()
  for (const x of xs) counts.set(x, (counts.get(x) || 0) + 1)
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0]
}

function runChild(job, env = {}) {
  const r = spawnSync(process.execPath, [child, JSON.stringify(job)], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    cwd: root,
    maxBuffer: 16 << 20,
    timeout: 120_000,
  })
  const line = (r.stdout || '').split('\n').find((l) => l.startsWith('@@result '))
  if (r.status !== 0 || !line) {
    throw new Error(`bench child ${JSON.stringify(job)} failed (status ${r.status}${r.signal ? `, ${r.signal}` : ''}):\n${r.stderr}${r.stdout}`)
  }
  return JSON.parse(line.slice('@@result '.length))
}

function buildCpuGuest() {
  const src = join(here, 'guests', 'cpu.c')
  const target = join(out, 'cpu.wasm')
  if (!stale(target, [src, join(root, 'examples', 'guests', 'c', 'probe.h'), fileURLToPath(import.meta.url)])) return target
  // The flags of scripts/build-guests.mjs compileC.
  const cc = wasmClang()
  const args = [...cc.flags, '-O2', '-mexec-model=reactor', '-Wl,--strip-debug', '-I', join(root, 'examples', 'guests', 'c'), '-o', target, src]
  execFileSync(cc.command, args, { stdio: 'inherit' })
  return target
}

async function transpileWithJco() {
  const dir = join(out, 'jco-greet')
  const entry = join(dir, 'greet.js')
  const shim = join(here, 'jco-shim.js')
  if (stale(entry, [greet, shim, fileURLToPath(import.meta.url)])) {
    const { transpile } = await import('@bytecodealliance/jco')
    rmSync(dir, { recursive: true, force: true })
    const { files } = await transpile(readFileSync(greet), {
      name: 'greet',
      map: { 'probe:runtime/*': './shim.js#*' },
      quiet: true,
    })
    for (const [name, bytes] of Object.entries(files)) {
      if (name.endsWith('.d.ts')) continue
      mkdirSync(dirname(join(dir, name)), { recursive: true })
      writeFileSync(join(dir, name), bytes)
    }
    copyFileSync(shim, join(dir, 'shim.js'))
    // The transpiled component is an ES module wherever it lands.
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n')
  }
  return entry
}

function addonFeatures() {
  try {
    const require = createRequire(import.meta.url)
    const { WasmRuntime, WasmModule } = require(join(root, 'index.js'))
    const rt = new WasmRuntime()
    const ok = typeof rt.precompile === 'function' && typeof rt.loadPrecompiled === 'function' && typeof WasmModule?.prototype?.whenOptimized === 'function'
    rt.close()
    return ok ? null : 'the addon has no precompile / loadPrecompiled / whenOptimized (an old build)'
  } catch (e) {
    return `the addon cannot be loaded: ${e.message}`
  }
}

const MiB = 1024 * 1024
const fmt = (v, d = 0) => (v === undefined || v === null ? '—' : typeof v === 'number' ? v.toFixed(d) : String(v))
function timeRatio(ours, peer) {
  if (ours == null || peer == null) return ''
  return ours <= peer ? `ours ${(peer / ours).toFixed(2)}x faster` : `ours ${(ours / peer).toFixed(2)}x slower`
}
function memRatio(ours, peer) {
  if (ours == null || peer == null) return ''
  return ours <= peer ? `ours ${(peer / ours).toFixed(2)}x less` : `ours ${(ours / peer).toFixed(2)}x more`
}

export async function runLoadingBench() {
  const runs = Math.max(1, Number(process.env.BENCH_LOADING_RUNS || 3))
  const started = performance.now()
  if (!existsSync(greet)) throw new Error(`${greet} is missing: run npm run setup (scripts/build-guests.mjs builds it)`)
  mkdirSync(out, { recursive: true })
  const size = statSync(greet).size
  const missing = addonFeatures()
  const cpuGuest = buildCpuGuest()
  const jcoEntry = await transpileWithJco()

  console.log(`\nloading bench — componentize-js guest ${(size / 1e6).toFixed(1)} MB, ${runs} fresh process(es) per row, medians`)
  if (missing) console.log(`  our rows skipped: ${missing}`)

  const work = mkdtempSync(join(tmpdir(), 'wasm-probe-bench-loading-'))
  const samples = { auto: [], baseline: [], optimizing: [], cache: [], precompiled: [], jco: [] }
  let precompileMs
  let artifactSize
  try {
    let artifact
    if (!missing) {
      const require = createRequire(import.meta.url)
      const { WasmRuntime } = require(join(root, 'index.js'))
      const rt = new WasmRuntime()
      const t = performance.now()
      const bytes = await rt.precompile(greet)
      precompileMs = performance.now() - t
      artifactSize = bytes.length
      await rt.close()
      artifact = join(work, 'greet.cwasm')
      writeFileSync(artifact, bytes)
    }
    for (let i = 0; i < runs; i++) {
      if (!missing) {
        const dir = (name) => mkdtempSync(join(work, `${name}-${i}-`))
        const autoCache = dir('auto')
        samples.auto.push(runChild({ kind: 'ours', guest: greet, compiler: 'auto', cacheDir: autoCache, input: INPUT, waitOptimized: true }))
        samples.cache.push(runChild({ kind: 'ours', guest: greet, compiler: 'auto', cacheDir: autoCache, input: INPUT, watch: false }))
        samples.baseline.push(runChild({ kind: 'ours', guest: greet, compiler: 'baseline', cacheDir: dir('baseline'), input: INPUT }))
        samples.optimizing.push(runChild({ kind: 'ours', guest: greet, compiler: 'optimizing', cacheDir: dir('optimizing'), input: INPUT }))
        samples.precompiled.push(runChild({ kind: 'ours', precompiled: artifact, input: INPUT, watch: false }))
      }
      samples.jco.push(runChild({ kind: 'jco', module: jcoEntry, input: INPUT }))
    }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }

  const cpu = {}
  if (!missing) {
    cpu.baseline = runChild({ kind: 'cpu', guest: cpuGuest, compiler: 'baseline', input: CPU_INPUT, calls: CPU_CALLS })
    cpu.optimizing = runChild({ kind: 'cpu', guest: cpuGuest, compiler: 'optimizing', input: CPU_INPUT, calls: CPU_CALLS })
    cpu.auto = runChild({ kind: 'cpu', guest: cpuGuest, compiler: 'auto', input: CPU_INPUT, calls: CPU_CALLS }, { WASM_PROBE_TIERING_MIN_BYTES: '0' })
  }
  cpu.v8 = runChild({ kind: 'cpu-v8', guest: cpuGuest, input: CPU_INPUT, calls: CPU_CALLS })
  const outputs = new Set(Object.values(cpu).map((c) => JSON.stringify(c.output)))
  if (outputs.size !== 1) throw new Error(`the CPU guest computed different results on different tiers: ${[...outputs].join(' ')}`)

  const m = (row, key) => median(samples[row].map((s) => s[key]))
  const tier = (row, key) => mostCommon(samples[row].map((s) => s[key]))
  const jcoFirst = m('jco', 'firstResultMs')
  const jcoRss = m('jco', 'rssAfterFirst')
  const jcoLoop = m('jco', 'loopMaxMs')
  const jcoGap = m('jco', 'intervalMaxGapMs')
  const rows = [['', 'wasm-probe-runtime', 'jco + V8 peer', 'ratio']]
  const time = (label, ours, peer = jcoFirst) => rows.push([label, fmt(ours), fmt(peer), timeRatio(ours, peer)])
  const mem = (label, ours, peer = jcoRss) => rows.push([label, fmt(ours == null ? ours : ours / MiB), fmt(peer == null ? peer : peer / MiB), memRatio(ours, peer)])
  const loop = (label, row) => {
    const ours = m(row, 'loopMaxMs')
    rows.push([label, `${fmt(ours, 1)} / ${fmt(m(row, 'intervalMaxGapMs'), 1)}`, `${fmt(jcoLoop, 1)} / ${fmt(jcoGap, 1)}`, timeRatio(ours, jcoLoop)])
  }
  rows.push(['time (ms)', '', '', ''])
  rows.push(['  addon require / new WasmRuntime', `${fmt(m('auto', 'requireMs'), 1)} / ${fmt(m('auto', 'constructMs'), 1)}`, '(in import)', ''])
  time(`  first result, 'auto', empty cache (tier ${tier('auto', 'tierAtLoad') ?? '—'})`, m('auto', 'firstResultMs'))
  time(`  first result, 'baseline', empty cache (tier ${tier('baseline', 'tierAtLoad') ?? '—'})`, m('baseline', 'firstResultMs'))
  time(`  first result, 'optimizing', empty cache`, m('optimizing', 'firstResultMs'))
  time(`  'auto': until whenOptimized resolves`, m('auto', 'optimizedMs'), null)
  time(`  first result from disk cache (tier ${tier('cache', 'tierAtLoad') ?? '—'})`, m('cache', 'firstResultMs'))
  time(`  first result from precompiled artifact`, m('precompiled', 'firstResultMs'))
  time(`  'auto': 2nd execute after tier-up (optimized)`, m('auto', 'secondMs'), null)
  rows.push(['RSS (MiB)', '', '', ''])
  mem('  before load (after require / at start)', m('auto', 'rssBefore'), m('jco', 'rssBefore'))
  mem(`  after first result, 'auto'`, m('auto', 'rssAfterFirst'))
  mem(`  'auto' after whenOptimized + 1 execute`, m('auto', 'rssAfterOptimized'))
  mem(`  after first result, 'baseline'`, m('baseline', 'rssAfterFirst'))
  mem(`  after first result, 'optimizing'`, m('optimizing', 'rssAfterFirst'))
  mem(`  after first result, disk cache`, m('cache', 'rssAfterFirst'))
  mem(`  after first result, precompiled`, m('precompiled', 'rssAfterFirst'))
  rows.push(['event loop max delay, load → first result (ms): histogram / 1 ms interval gap', '', '', ''])
  loop(`  'auto', empty cache`, 'auto')
  loop(`  'baseline', empty cache`, 'baseline')
  loop(`  'optimizing', empty cache`, 'optimizing')
  rows.push([`  'auto' while tiering up (first result → whenOptimized)`, `${fmt(m('auto', 'tierUp_loopMaxMs'), 1)} / ${fmt(m('auto', 'tierUp_intervalMaxGapMs'), 1)}`, '', ''])
  rows.push([`CPU guest, median run of ${CPU_CALLS} (ms; peer: same core module on V8)`, '', '', ''])
  const cpuRow = (label, c) => rows.push([label, fmt(c && c.medianRunMs, 1), fmt(cpu.v8.medianRunMs, 1), timeRatio(c && c.medianRunMs, cpu.v8.medianRunMs)])
  cpuRow(`  'baseline' (tier ${cpu.baseline?.tier ?? '—'})`, cpu.baseline)
  cpuRow(`  'optimizing' (tier ${cpu.optimizing?.tier ?? '—'})`, cpu.optimizing)
  cpuRow(`  'auto' after whenOptimized, MIN_BYTES=0 (${cpu.auto ? `${cpu.auto.tierAtLoad} → ${cpu.auto.tier}` : '—'})`, cpu.auto)
  if (cpu.baseline && cpu.optimizing && cpu.auto) {
    rows.push([
      `  baseline ÷ optimizing, baseline ÷ auto-after-tier-up`,
      `${(cpu.baseline.medianRunMs / cpu.optimizing.medianRunMs).toFixed(2)}x, ${(cpu.baseline.medianRunMs / cpu.auto.medianRunMs).toFixed(2)}x`,
      '',
      '',
    ])
  }

  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)))
  for (const r of rows) console.log(r.map((v, c) => (c === 0 || c === 3 ? String(v).padEnd(widths[c]) : String(v).padStart(widths[c]))).join('  ').trimEnd())
  const notes = []
  if (precompileMs !== undefined) notes.push(`precompile() once: ${fmt(precompileMs)} ms, artifact ${(artifactSize / 1e6).toFixed(1)} MB`)
  if (!missing) {
    notes.push(`disk-cache process hits: ${fmt(median(samples.cache.map((s) => s.stats?.cacheHits)))}`)
    notes.push(`load alone ('auto' / 'baseline' / 'optimizing' / cache / precompiled): ${['auto', 'baseline', 'optimizing', 'cache', 'precompiled'].map((r) => fmt(m(r, 'loadMs'))).join(' / ')} ms`)
  }
  notes.push(`jco: import() ${fmt(m('jco', 'importMs'))} ms of the ${fmt(jcoFirst)} ms`)
  notes.push(`whole loading bench ${((performance.now() - started) / 1000).toFixed(0)} s`)
  console.log(notes.map((n) => `  ${n}`).join('\n'))
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runLoadingBench().catch((e) => {
    console.error(e)
    process.exit(1)
  })
}
