// The execute suite again, with every runtime on baseline (Winch) code: limits, traps and error codes
// must behave the same on both tiers.
process.env.WASM_PROBE_TEST_COMPILER = 'baseline'
await import('./execute.spec.mjs')
