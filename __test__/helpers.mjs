// Shared helpers for the tests: the real addon through the package's own entry point, guest
// paths, and a WAT prelude that declares every import of the core-module probe ABI.
import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'vitest'

const require = createRequire(import.meta.url)
export const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const api = require(join(root, 'index.js'))
export const { WasmModule, WasmError } = api

// WASM_PROBE_TEST_COMPILER=baseline runs a whole spec file on baseline (Winch) code: the
// `*.baseline.spec.mjs` files set it and import a spec, so the hostile corpus runs on each tier.
const testCompiler = process.env.WASM_PROBE_TEST_COMPILER
export const WasmRuntime = testCompiler
  ? class extends api.WasmRuntime {
      constructor(options) {
        const plain = options === undefined || (options !== null && typeof options === 'object' && !Array.isArray(options))
        super(plain && !(options && 'compiler' in options) ? { compiler: testCompiler, ...options } : options)
      }
    }
  : api.WasmRuntime

/** Path of a guest built by scripts/build-guests.mjs, e.g. guest('c/greet.wasm'). */
export const guest = (path) => join(root, 'build', 'guests', path)
/** The guests of the typed test world (__test__/guests/typed/typed.wit), by the toolchain that
 *  built them: [label, path under build/guests]. */
export const TYPED_GUESTS = [
  ['componentize-js', 'typed/typed.wasm'],
  ['C (wit-bindgen)', 'typed/typed-c.wasm'],
]

/** Path of a WAT guest kept with the tests. */
export const watGuest = (name) => join(root, '__test__', 'guests', name)

/** A core module importing the whole probe ABI, exporting one page of memory, plus `body`. */
export function probeWat(body, { pages = 1 } = {}) {
  return `(module
  (import "probe" "input_len" (func $input_len (result i32)))
  (import "probe" "input_read" (func $input_read (param i32)))
  (import "probe" "output_write" (func $output_write (param i32 i32)))
  (import "probe" "error_write" (func $error_write (param i32 i32)))
  (import "probe" "log" (func $log (param i32 i32 i32)))
  (import "probe" "http_fetch" (func $http_fetch (param i32 i32) (result i32)))
  (import "probe" "json_get" (func $json_get (param i32 i32 i32 i32) (result i32)))
  (import "probe" "result_read" (func $result_read (param i32)))
  (import "probe" "now_ms" (func $now_ms (result i64)))
  (import "probe" "monotonic_ns" (func $monotonic_ns (result i64)))
  (memory (export "memory") ${pages})
  ${body}
)`
}

/** A probe that writes `json` (a JSON text literal) as its output and returns 0. */
export function constantProbe(json) {
  const bytes = Buffer.from(json)
  const data = [...bytes].map((b) => `\\${b.toString(16).padStart(2, '0')}`).join('')
  return probeWat(`(data (i32.const 1024) "${data}")
  (func (export "execute") (result i32)
    (call $output_write (i32.const 1024) (i32.const ${bytes.length}))
    (i32.const 0))`)
}

/** Awaits a promise that must reject with a WasmError of `code`; returns the error. */
export async function rejectsWith(promise, code) {
  let error
  try {
    await promise
  } catch (e) {
    error = e
  }
  expect(error, `expected a rejection with ${code}`).toBeInstanceOf(WasmError)
  expect(error.code, error.message).toBe(code)
  return error
}

/** A loopback HTTP server answering every request with `hello`: { origin, close }. */
export async function helloServer() {
  const server = createServer((req, res) => res.end('hello'))
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  return { origin: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) }
}
