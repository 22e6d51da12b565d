// One fresh-process measurement for bench/loading.mjs. Argument: a JSON job; prints one line,
// "@@result <JSON>".
//   { kind: 'ours', guest, compiler?, cacheDir?, precompiled?, input, waitOptimized? }
//       times `require(index.js)` and `new WasmRuntime()`, then from just before loadModule
//       (loadPrecompiled when `precompiled` is set) to the first resolved executeProbe; RSS after
//       require, after the first result, and (waitOptimized) after whenOptimized + one more call.
//   { kind: 'jco', module, input }
//       the same component transpiled by jco, run by Node's V8: from just before the dynamic
//       import() of the transpiled ES module (which compiles and instantiates the core wasm) to
//       the first result of its `execute` export.
//   { kind: 'cpu', guest, compiler, input, calls } / { kind: 'cpu-v8', guest, input, calls }
//       the CPU-bound core module: median guest run time of `calls` executions on one tier
//       (after whenOptimized for 'auto'), or on Node's V8 with the probe imports in JavaScript.
// Event-loop blocking is watched from just before the load to the first result with
// monitorEventLoopDelay({ resolution: 1 }) and a 1 ms setInterval recording its longest gap.
import { createRequire } from 'node:module'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const job = JSON.parse(process.argv[2])
const rss = () => process.memoryUsage().rss
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

function watchLoop() {
  const histogram = monitorEventLoopDelay({ resolution: 1 })
  histogram.enable()
  let last = performance.now()
  let maxGap = 0
  const timer = setInterval(() => {
    const now = performance.now()
    maxGap = Math.max(maxGap, now - last)
    last = now
  }, 1)
  return async () => {
    // Let the loop turn once more, so the histogram sees a block that ended just now (jco's
    // synchronous execute); the interval's gap is closed here too.
    await new Promise((resolve) => setTimeout(resolve, 5))
    // One last sample: a block that ended just now has not been seen by the interval yet.
    maxGap = Math.max(maxGap, performance.now() - last)
    clearInterval(timer)
    histogram.disable()
    return { loopMaxMs: histogram.max / 1e6, intervalMaxGapMs: maxGap }
  }
}

function checkGreeting(output) {
  const value = typeof output === 'string' ? JSON.parse(output) : output
  if (!value || typeof value.greeting !== 'string' || !value.greeting.includes('Grace')) {
    throw new Error(`unexpected greeting output: ${JSON.stringify(output)}`)
  }
}

async function ours() {
  const t0 = performance.now()
  const require = createRequire(import.meta.url)
  const { WasmRuntime } = require(join(root, 'index.js'))
  const requireMs = performance.now() - t0
  const t1 = performance.now()
  const rt = new WasmRuntime({ compiler: job.compiler, cacheDir: job.cacheDir })
  const constructMs = performance.now() - t1
  const rssBefore = rss()

  // The 1 ms watcher costs the JS thread a wake-up per millisecond; rows that time a load from
  // cache or artifact (tens of ms) run without it (`watch: false`), so it does not inflate them.
  const stop = job.watch === false ? async () => ({}) : watchLoop()
  const start = performance.now()
  const module = job.precompiled ? await rt.loadPrecompiled(job.precompiled) : await rt.loadModule(job.guest)
  const loadMs = performance.now() - start
  const tierAtLoad = module.tier
  const first = await rt.executeProbe(module, job.input)
  const firstResultMs = performance.now() - start
  const loop = await stop()
  const rssAfterFirst = rss()
  if (!first.success) throw new Error(`first execution failed: ${JSON.stringify(first.error)}`)
  checkGreeting(first.output)

  const out = {
    requireMs, constructMs, loadMs, firstResultMs, tierAtLoad, ...loop,
    firstInstantiateUs: first.metrics.instantiateUs, firstRunUs: first.metrics.runUs,
    rssBefore, rssAfterFirst, stats: rt.stats(),
  }
  if (job.waitOptimized) {
    const stopTierUp = watchLoop()
    await module.whenOptimized()
    out.optimizedMs = performance.now() - start
    Object.assign(out, Object.fromEntries(Object.entries(await stopTierUp()).map(([k, v]) => [`tierUp_${k}`, v])))
    out.tierAfter = module.tier
    const t = performance.now()
    const again = await rt.executeProbe(module, job.input)
    out.secondMs = performance.now() - t
    out.secondRunUs = again.metrics.runUs
    out.rssAfterOptimized = rss()
    checkGreeting(again.output)
  }
  out.maxRss = process.resourceUsage().maxRSS * 1024
  await rt.close()
  return out
}

async function jco() {
  const rssBefore = rss()
  const stop = watchLoop()
  const start = performance.now()
  const mod = await import(pathToFileURL(job.module).href)
  const importMs = performance.now() - start
  const output = mod.execute(JSON.stringify(job.input))
  const firstResultMs = performance.now() - start
  const loop = await stop()
  const rssAfterFirst = rss()
  checkGreeting(output)
  return { importMs, firstResultMs, ...loop, rssBefore, rssAfterFirst, maxRss: process.resourceUsage().maxRSS * 1024 }
}

async function cpu() {
  const require = createRequire(import.meta.url)
  const { WasmRuntime } = require(join(root, 'index.js'))
  const rt = new WasmRuntime({ compiler: job.compiler })
  const module = await rt.loadModule(job.guest)
  const tierAtLoad = module.tier
  if (job.compiler === 'auto') await module.whenOptimized()
  const runUs = []
  const wallMs = []
  let output
  for (let i = 0; i < job.calls + 2; i++) {
    const t = performance.now()
    const r = await rt.executeProbe(module, job.input)
    const ms = performance.now() - t
    if (!r.success) throw new Error(`cpu guest failed: ${JSON.stringify(r.error)}`)
    output = r.output
    if (i < 2) continue // warm-up
    runUs.push(r.metrics.runUs)
    wallMs.push(ms)
  }
  const out = { tierAtLoad, tier: module.tier, medianRunMs: median(runUs) / 1000, medianWallMs: median(wallMs), output }
  await rt.close()
  return out
}

// The same core module on Node's V8 (a fresh instance per call, like executeProbe), for reference.
async function cpuV8() {
  const compiled = new WebAssembly.Module(readFileSync(job.guest))
  const encoder = new TextEncoder()
  const decoder = new TextDecoder()
  const call = () => {
    const input = encoder.encode(JSON.stringify(job.input))
    let memory
    let result
    let output
    const view = (ptr, len) => new Uint8Array(memory.buffer, ptr, len)
    const instance = new WebAssembly.Instance(compiled, {
      probe: {
        input_len: () => input.length,
        input_read: (ptr) => new Uint8Array(memory.buffer).set(input, ptr),
        json_get: (doc, docLen, ptr, ptrLen) => {
          let v = JSON.parse(decoder.decode(view(doc, docLen)))
          for (const part of decoder.decode(view(ptr, ptrLen)).split('/').slice(1)) v = v?.[part.replace(/~1/g, '/').replace(/~0/g, '~')]
          if (v === undefined) return -1
          result = encoder.encode(JSON.stringify(v))
          return result.length
        },
        result_read: (ptr) => new Uint8Array(memory.buffer).set(result, ptr),
        output_write: (ptr, len) => {
          output = decoder.decode(view(ptr, len))
        },
      },
    })
    memory = instance.exports.memory
    instance.exports._initialize()
    instance.exports.execute()
    return JSON.parse(output)
  }
  const runMs = []
  let output
  for (let i = 0; i < job.calls + 2; i++) {
    const t = performance.now()
    output = call()
    if (i >= 2) runMs.push(performance.now() - t)
  }
  return { medianRunMs: median(runMs), medianWallMs: median(runMs), output }
}

const run = { ours, jco, cpu, 'cpu-v8': cpuV8 }[job.kind]
try {
  // A marker: the jco peer's guest writes its own console.log line to this stdout.
  process.stdout.write('@@result ' + JSON.stringify(await run()) + '\n')
} catch (e) {
  process.stderr.write(`${e && e.stack ? e.stack : e}\n`)
  process.exit(1)
}
