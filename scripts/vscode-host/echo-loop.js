// The echo round trip measured the same way in the VS Code extension host (by the host test's
// driver extension) and in plain Node (bench/vscode-host.mjs): `calls` sequential executeProbe
// calls of the echo guest after a warm-up, each timed; the JS thread's busy time per call from
// performance.eventLoopUtilization(). CommonJS without dependencies: it is copied into the driver.
const { performance } = require('node:perf_hooks')

/** The median of `xs` (the mean of the middle two for an even count). */
function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

async function echoLoop(WasmRuntime, guest, calls = 2000) {
  const runtime = new WasmRuntime()
  try {
    const module = await runtime.loadModule(guest)
    const input = { n: 1 }
    for (let i = 0; i < 200; i++) await runtime.executeProbe(module, input)
    const times = []
    const elu = performance.eventLoopUtilization()
    for (let i = 0; i < calls; i++) {
      const start = performance.now()
      const result = await runtime.executeProbe(module, input)
      times.push((performance.now() - start) * 1000)
      if (!result.success) throw new Error(`echo failed: ${result.error}`)
    }
    const busy = performance.eventLoopUtilization(elu)
    const wallUs = busy.idle + busy.active
    return { calls, medianUs: median(times), jsBusyUsPerCall: (busy.active * 1000) / calls, wallUsPerCall: (wallUs * 1000) / calls }
  } finally {
    await runtime.close()
  }
}

module.exports = { echoLoop, median }
