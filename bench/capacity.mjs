// Capacity bench (issue 11): executeProbe with 500 long-lived instances alive next to none, in
// one runtime, and what a store costs from the pool (executions) versus allocated on demand
// (instances, and every store where pooling is off), each measured in a fresh process.
// Run alone with BENCH_ONLY=capacity; part of `npm run bench`.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
const ECHO_WAT = readFileSync(join(root, '__test__', 'guests', 'echo.wat'), 'utf8')
const CALLS = Number(process.env.BENCH_CAPACITY_CALLS || 3000)
const INSTANCES = 500

const round = (n, d = 1) => Math.round(n * 10 ** d) / 10 ** d
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const p99 = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.99)]

/** Sequential executions: round trip, event-loop busy time per call, and the store's instantiate. */
async function sequential(rt, module) {
  for (let i = 0; i < 300; i++) await rt.executeProbe(module, { i })
  const times = []
  const inst = []
  const elu = performance.eventLoopUtilization()
  const t0 = performance.now()
  for (let i = 0; i < CALLS; i++) {
    const t = performance.now()
    const r = await rt.executeProbe(module, { i })
    times.push((performance.now() - t) * 1000)
    inst.push(r.metrics.instantiateUs)
  }
  const used = performance.eventLoopUtilization(elu)
  const busyUs = (used.utilization * (performance.now() - t0) * 1000) / CALLS
  return { medianUs: median(times), p99Us: p99(times), busyUs, instantiateUs: median(inst) }
}

async function burst(rt, module) {
  const t = performance.now()
  const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => rt.executeProbe(module, { i })))
  if (!results.every((r) => r.success)) throw new Error('a burst execution failed')
  return performance.now() - t
}

// Runs in a fresh process: the store cost of executions with the pool (default) or without it,
// and the cost of starting a long-lived instance (always on demand).
const STORE_COST = `
  const { WasmRuntime } = require(${JSON.stringify(join(root, 'index.js'))})
  ;(async () => {
    const rt = new WasmRuntime()
    const m = await rt.loadModule(Buffer.from(${JSON.stringify(ECHO_WAT)}))
    const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]
    const inst = []
    for (let i = 0; i < 2000; i++) inst.push((await rt.executeProbe(m, {})).metrics.instantiateUs)
    const starts = []
    for (let i = 0; i < 300; i++) {
      const t = performance.now()
      const instance = await rt.instantiate(m)
      starts.push((performance.now() - t) * 1000)
      await instance.dispose()
    }
    console.log(JSON.stringify({ executionStoreUs: median(inst.slice(500)), instantiateUs: median(starts.slice(50)) }))
    await rt.close()
  })()`

function storeCost(env) {
  return JSON.parse(execFileSync(process.execPath, ['-e', STORE_COST], { encoding: 'utf8', env: { ...process.env, ...env } }))
}

export async function runCapacityBench() {
  const { WasmRuntime } = require(join(root, 'index.js'))
  const rt = new WasmRuntime({ workerThreads: 2 })
  const echo = await rt.loadModule(Buffer.from(ECHO_WAT))

  // Warm up threads, the pool's slots and the JIT first, so that "none" is not the cold side.
  await burst(rt, echo)
  await sequential(rt, echo)
  const none = await sequential(rt, echo)
  const noneBurst = await burst(rt, echo)
  const t = performance.now()
  const instances = []
  for (let i = 0; i < INSTANCES; i++) instances.push(await rt.instantiate(echo))
  const createMs = performance.now() - t
  const alive = await sequential(rt, echo)
  const aliveBurst = await burst(rt, echo)
  const stats = rt.stats()
  await Promise.all(instances.map((i) => i.dispose()))
  await rt.close()

  console.log(`\ncapacity: executeProbe of the echo probe, ${CALLS} sequential calls, with ${INSTANCES} long-lived instances alive next to none`)
  const rows = [
    ['', 'no instances', `${INSTANCES} instances`, 'ratio'],
    ['median round trip (µs)', round(none.medianUs), round(alive.medianUs), `${round(alive.medianUs / none.medianUs, 2)}x`],
    ['p99 round trip (µs)', round(none.p99Us), round(alive.p99Us), `${round(alive.p99Us / none.p99Us, 2)}x`],
    ['JS thread busy per call (µs)', round(none.busyUs), round(alive.busyUs), `${round(alive.busyUs / none.busyUs, 2)}x`],
    ['1000 concurrent executions (ms)', round(noneBurst), round(aliveBurst), `${round(aliveBurst / noneBurst, 2)}x`],
  ]
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)))
  for (const r of rows) console.log(r.map((v, c) => String(v).padEnd(widths[c])).join('  '))
  console.log(
    `  ${INSTANCES} instances started in ${round(createMs)} ms (${round((createMs * 1000) / INSTANCES)} µs each, sequential); ` +
      `stats then: ${stats.instances} instances, ${round(stats.memoryBytes / 2 ** 20, 1)} MiB of linear memory`,
  )

  const pooled = storeCost({})
  const onDemand = storeCost({ WASM_PROBE_NO_POOLING: '1' })
  console.log(
    `  a store for one execution, median (fresh processes): from the pool ${round(pooled.executionStoreUs, 1)} µs, ` +
      `allocated on demand ${round(onDemand.executionStoreUs, 1)} µs (${round(onDemand.executionStoreUs / pooled.executionStoreUs, 2)}x); ` +
      `instantiate() of a long-lived instance (on demand, with its actor): ${round(pooled.instantiateUs)} µs`,
  )
}
