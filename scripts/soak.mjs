#!/usr/bin/env node
// npm run soak [-- --executions N --cycles M]
//
// Default: 1 000 000 executions (one in ten traps) with 64 in flight, then 10 000 long-lived
// instance cycles (instantiate, call, dispose) with 8 at once, in this one process. Prints RSS,
// the JS heap and open descriptors as it goes; fails (exit 1) when, after warm-up (the first
// quarter of each phase), the median RSS of the second half is more than max(5%, 16 MiB) above
// the first half's, descriptors grow, or anything but the expected outcome comes back.
import { readdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { wholeNumberArg } from './args.mjs'

const require = createRequire(import.meta.url)
const { WasmRuntime } = require('../index.js')

function args() {
  return { executions: wholeNumberArg('--executions', 1_000_000, 1), cycles: wholeNumberArg('--cycles', 10_000, 1) }
}

const PRELUDE = `(import "probe" "output_write" (func $output_write (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{\\"ok\\":true}")`
const OK = `(module ${PRELUDE} (func (export "execute") (result i32) (call $output_write (i32.const 0) (i32.const 11)) (i32.const 0)))`
const TRAP = `(module ${PRELUDE} (func (export "execute") (result i32) unreachable))`
const COUNTER = `(module ${PRELUDE} (global $n (mut i32) (i32.const 0))
  (func (export "bump") (result i32)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (call $output_write (i32.const 0) (i32.const 11)) (i32.const 0)))`

const MIB = 1024 * 1024
const openDescriptors = () => {
  try {
    return readdirSync('/proc/self/fd').length
  } catch {
    return NaN // only Linux exposes its descriptors this way
  }
}

const samples = []
function sample(phase, done, total, started) {
  const s = {
    phase,
    done,
    rssMiB: +(process.memoryUsage.rss() / MIB).toFixed(1),
    heapMiB: +(process.memoryUsage().heapUsed / MIB).toFixed(1),
    fds: openDescriptors(),
    perSecond: Math.round(done / ((performance.now() - started) / 1000)),
  }
  samples.push(s)
  console.log(`${phase.padEnd(10)} ${String(done).padStart(8)}/${total}  rss ${String(s.rssMiB).padStart(7)} MiB  heap ${String(s.heapMiB).padStart(6)} MiB  fds ${s.fds}  ${s.perSecond}/s`)
}

/** Runs `total` tasks with `width` in flight; samples 20 times. */
async function phase(name, total, width, task) {
  const started = performance.now()
  const every = Math.max(1, Math.floor(total / 20))
  let next = 0
  let done = 0
  const lane = async () => {
    while (next < total) {
      const i = next++
      await task(i)
      done++
      if (done % every === 0) sample(name, done, total, started)
    }
  }
  await Promise.all(Array.from({ length: width }, lane))
}

/** The median RSS of the first and second half of a phase's samples after warm-up (its first
 *  quarter: thread pools, pool slots and the V8 heap grow there), which must be level. */
function plateau(name) {
  const rows = samples.filter((s) => s.phase === name)
  const post = rows.slice(Math.floor(rows.length / 4))
  const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]
  const half = Math.floor(post.length / 2)
  const early = median(post.slice(0, half).map((s) => s.rssMiB))
  const late = median(post.slice(half).map((s) => s.rssMiB))
  const allowed = Math.max(early * 0.05, 16)
  const problems = []
  console.log(`[soak] ${name}: RSS after warm-up ${early} MiB (median, first half) -> ${late} MiB (second half)`)
  if (late - early > allowed) problems.push(`${name}: RSS grew from ${early} to ${late} MiB after warm-up (allowed ${allowed.toFixed(1)})`)
  const fds = post.map((s) => s.fds)
  if (Number.isNaN(fds[0])) console.log(`[soak] ${name}: open descriptors not measured on ${process.platform}`)
  // A descriptor or two come and go (the event loop's own); a leak grows with the work.
  else if (fds.at(-1) > fds[0] + 2) problems.push(`${name}: open descriptors grew from ${fds[0]} to ${fds.at(-1)}`)
  return problems
}

async function main() {
  const { executions, cycles } = args()
  const rt = new WasmRuntime()
  const ok = await rt.loadModule(OK)
  const trap = await rt.loadModule(TRAP)
  const counter = await rt.loadModule(COUNTER)
  const wrong = []
  const expect = (what, cond) => {
    if (!cond && wrong.length < 10) wrong.push(what)
  }
  console.log(`[soak] ${executions} executions (10% trapping), then ${cycles} instance cycles`)
  await phase('execute', executions, 64, async (i) => {
    if (i % 10 === 9) {
      const e = await rt.executeProbe(trap).then(() => null, (err) => err)
      expect(`execution ${i} should trap, got ${e && e.code}`, e && e.code === 'ERR_WASM_TRAP')
    } else {
      const r = await rt.executeProbe(ok)
      expect(`execution ${i} should succeed`, r.success && r.output.ok === true)
    }
  })
  await phase('instances', cycles, 8, async (i) => {
    const instance = await rt.instantiate(counter)
    const r = await instance.call('bump')
    expect(`cycle ${i} should answer`, r.success)
    await instance.dispose()
  })
  const stats = rt.stats()
  await rt.close()
  expect('stats: nothing left', stats.instances === 0 && stats.memoryBytes === 0 && stats.active === 0 && stats.queued === 0)
  const problems = [...plateau('execute'), ...plateau('instances'), ...wrong]
  console.log(`[soak] stats at the end: ${JSON.stringify(stats)}`)
  if (problems.length) {
    console.log(`[soak] FAILED\n${problems.map((p) => `  ${p}`).join('\n')}`)
    process.exit(1)
  }
  console.log('[soak] RSS and descriptors plateaued; every outcome as expected')
}

await main()
