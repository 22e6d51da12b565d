// Typed calls bench (issue 12): `invoke` with a record argument against `executeProbe` / `call`
// with the same data as JSON, on one componentize-js guest that exports both (the typed test
// world's `api.translate` and `execute`), fresh and on a long-lived instance; and a guest→JS
// import round trip (`api.line-via-editor` with a sync JavaScript `get-line`) against the same
// kind of call without one (`hello`), on the componentize-js guest and on the C guest. Each
// figure: median and p99 of sequential calls, and the JS thread's busy time per call
// (performance.eventLoopUtilization). Run alone with BENCH_ONLY=typed; part of `npm run bench`.
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
const { WasmRuntime } = require(join(root, 'index.js'))
const CALLS = Number(process.env.BENCH_TYPED_CALLS || 2000)
const API = 'test:typed/api@0.1.0#'
const EDITOR = 'test:typed/editor@0.1.0'

const round = (n, d = 1) => Math.round(n * 10 ** d) / 10 ** d
const sorted = (xs) => [...xs].sort((a, b) => a - b)

async function measure(call, calls = CALLS) {
  for (let i = 0; i < Math.min(200, calls); i++) await call(i)
  const times = []
  const elu = performance.eventLoopUtilization()
  const t0 = performance.now()
  for (let i = 0; i < calls; i++) {
    const t = performance.now()
    await call(i)
    times.push((performance.now() - t) * 1000)
  }
  const used = performance.eventLoopUtilization(elu)
  const s = sorted(times)
  return {
    medianUs: round(s[Math.floor(s.length / 2)]),
    p99Us: round(s[Math.floor(s.length * 0.99)]),
    jsBusyUs: round((used.utilization * (performance.now() - t0) * 1000) / calls),
  }
}

const editor = {
  'get-line': (uri, line) => `${uri}:${line}`,
  'show-message': () => {},
  'read-document': async (uri) => uri,
  'offset-at': (pos) => pos.line + pos.character,
}

export async function runTypedBench() {
  const cacheDir = mkdtempSync(join(tmpdir(), 'wasm-probe-bench-typed-'))
  const rt = new WasmRuntime({ cacheDir })
  try {
    const js = await rt.loadModule(join(root, 'build', 'guests', 'typed', 'typed.wasm'), { imports: { [EDITOR]: editor } })
    const c = await rt.loadModule(join(root, 'build', 'guests', 'typed', 'typed-c.wasm'), { imports: { [EDITOR]: editor } })
    await js.whenOptimized()
    const points = Array.from({ length: 16 }, (_, i) => ({ x: i, y: -i }))
    const args = [points, 3]
    const input = { points, dx: 3 }

    // The same data both ways; check once that they agree.
    const viaInvoke = await rt.invoke(js, `${API}translate`, args)
    const viaJson = (await rt.executeProbe(js, input)).output
    if (JSON.stringify(viaInvoke) !== JSON.stringify(viaJson)) throw new Error('invoke and executeProbe disagree')

    const fresh = Math.max(100, CALLS >> 2)
    const rows = {}
    rows['fresh instance: invoke(translate, [16 points, 3])'] = await measure(() => rt.invoke(js, `${API}translate`, args), fresh)
    rows['fresh instance: executeProbe(execute, same data as JSON)'] = await measure(() => rt.executeProbe(js, input), fresh)
    const instance = await rt.instantiate(js)
    rows['instance: invoke(translate, [16 points, 3])'] = await measure(() => instance.invoke(`${API}translate`, args))
    rows['instance: call(execute, same data as JSON)'] = await measure(() => instance.call('execute', input))
    rows['instance: invoke(hello) — no import (JS guest)'] = await measure(() => instance.invoke('hello', ['x']))
    rows['instance: invoke(line-via-editor) — one JS import (JS guest)'] = await measure(() => instance.invoke(`${API}line-via-editor`, ['a', 1]))
    await instance.dispose()
    const small = await rt.instantiate(c)
    rows['instance: invoke(hello) — no import (C guest)'] = await measure(() => small.invoke('hello', ['x']))
    rows['instance: invoke(line-via-editor) — one JS import (C guest)'] = await measure(() => small.invoke(`${API}line-via-editor`, ['a', 1]))
    await small.dispose()

    console.log('\n== typed calls: invoke vs JSON, and a guest→JavaScript import round trip')
    console.table(rows)
    const r = (a, b) => round(rows[a].medianUs / rows[b].medianUs, 2)
    const summary = {
      invokeVsJsonFresh: r('fresh instance: invoke(translate, [16 points, 3])', 'fresh instance: executeProbe(execute, same data as JSON)'),
      invokeVsJsonInstance: r('instance: invoke(translate, [16 points, 3])', 'instance: call(execute, same data as JSON)'),
      importRoundTripUsJs: round(rows['instance: invoke(line-via-editor) — one JS import (JS guest)'].medianUs - rows['instance: invoke(hello) — no import (JS guest)'].medianUs),
      importRoundTripUsC: round(rows['instance: invoke(line-via-editor) — one JS import (C guest)'].medianUs - rows['instance: invoke(hello) — no import (C guest)'].medianUs),
    }
    console.log(`[typed] ${JSON.stringify(summary)}`)
    return { rows, summary }
  } finally {
    await rt.close()
    rmSync(cacheDir, { recursive: true, force: true })
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runTypedBench()
