// The V8 baseline's probe call: Node's own WebAssembly running a compiled probe module with the
// same contract as executeProbe — a fresh instance per call, input and output as JSON text
// through the same `probe` imports. Used in a worker (v8-worker.mjs) and on the JS thread.
const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** One instance of `module` and `call(input)`, which runs its `execute` with `input` (JSON text). */
function instantiate(module) {
  let inputBytes
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
  return (input) => {
    inputBytes = encoder.encode(input)
    output = undefined
    const status = instance.exports.execute()
    return { status, output }
  }
}

/** Runs `module`'s `execute` in a fresh instance with `input` (JSON text). */
export function runFresh(module, input) {
  return instantiate(module)(input)
}

/** One instance kept between calls, with no isolation or limits: `call(input)` as runFresh. */
export function keptInstance(module) {
  return instantiate(module)
}
