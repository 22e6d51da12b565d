// The baseline: Node's own WebAssembly (V8) running the same probe in a worker_threads worker,
// with the same contract as executeProbe: a fresh instance per call, input and output as JSON
// text through the same `probe` imports.
import { parentPort, workerData } from 'node:worker_threads'

const module = workerData.module
const encoder = new TextEncoder()
const decoder = new TextDecoder()

parentPort.on('message', ({ id, input }) => {
  const inputBytes = encoder.encode(input)
  let memory
  let output
  const imports = {
    probe: {
      input_len: () => inputBytes.length,
      input_read: (ptr) => new Uint8Array(memory.buffer).set(inputBytes, ptr),
      output_write: (ptr, len) => {
        output = decoder.decode(new Uint8Array(memory.buffer, ptr, len))
      },
    },
  }
  const instance = new WebAssembly.Instance(module, imports)
  memory = instance.exports.memory
  const status = instance.exports.execute()
  parentPort.postMessage({ id, status, output })
})
