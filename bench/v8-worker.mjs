// The baseline: Node's own WebAssembly (V8) running the same probe in a worker_threads worker
// (see v8-probe.mjs for the call itself).
import { parentPort, workerData } from 'node:worker_threads'
import { runFresh } from './v8-probe.mjs'

parentPort.on('message', ({ id, input }) => {
  const { status, output } = runFresh(workerData.module, input)
  parentPort.postMessage({ id, status, output })
})
