// The real server, started as `wasm-probe-server` in a child process on 127.0.0.1 with a port
// the OS picks, a temporary modules directory of WAT guests, and its JSON log lines collected.
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const serverDir = join(dirname(fileURLToPath(import.meta.url)), '..')
export const bin = join(serverDir, 'bin', 'wasm-probe-server.js')

const IO = `
  (import "probe" "input_len" (func $input_len (result i32)))
  (import "probe" "input_read" (func $input_read (param i32)))
  (import "probe" "output_write" (func $output_write (param i32 i32)))`

/** Guests every suite can use, by module name. */
export const GUESTS = {
  // Copies its input to its output.
  echo: `(module ${IO}
  (memory (export "memory") 1)
  (func (export "execute") (result i32)
    (call $input_read (i32.const 0))
    (call $output_write (i32.const 0) (call $input_len))
    (i32.const 0)))`,
  // Never returns.
  loop: `(module (func (export "execute") (result i32) (loop $l (br $l)) (i32.const 0)))`,
  // Traps.
  trap: `(module (func (export "execute") (result i32) unreachable))`,
  // Logs "hello" then answers {"ok":true}; "flood" logs 100 000 times.
  logger: `(module ${IO}
  (import "probe" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "hello")
  (data (i32.const 16) "{\\"ok\\":true}")
  (func (export "execute") (result i32)
    (call $log (i32.const 2) (i32.const 0) (i32.const 5))
    (call $output_write (i32.const 16) (i32.const 11))
    (i32.const 0))
  (func (export "flood") (result i32) (local $n i32)
    (local.set $n (i32.const 100000))
    (loop $next
      (call $log (i32.const 2) (i32.const 0) (i32.const 5))
      (local.tee $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $next))
    (call $output_write (i32.const 16) (i32.const 11))
    (i32.const 0)))`,
  // Keeps a digit in memory: each execute adds one and answers it.
  counter: `(module ${IO}
  (memory (export "memory") 1)
  (data (i32.const 0) "0")
  (func (export "execute") (result i32)
    (i32.store8 (i32.const 0) (i32.add (i32.load8_u (i32.const 0)) (i32.const 1)))
    (call $output_write (i32.const 0) (i32.const 1))
    (i32.const 0)))`,
  // Typed calls of a core module: numbers in, numbers out (i64 → bigint → JSON string).
  math: `(module
  (func (export "add") (param i64 i64) (result i64) (i64.add (local.get 0) (local.get 1))))`,
  // Emits the event "fetching", then makes the HTTP request its input describes and answers the result.
  fetcher: `(module ${IO}
  (import "probe" "event_emit" (func $emit (param i32 i32 i32 i32)))
  (import "probe" "http_fetch" (func $http_fetch (param i32 i32) (result i32)))
  (import "probe" "result_read" (func $result_read (param i32)))
  (memory (export "memory") 64)
  (data (i32.const 60000) "fetching")
  (data (i32.const 60016) "{\\"step\\":1}")
  (func (export "execute") (result i32) (local $n i32)
    (call $emit (i32.const 60000) (i32.const 8) (i32.const 60016) (i32.const 10))
    (call $input_read (i32.const 0))
    (local.set $n (call $http_fetch (i32.const 0) (call $input_len)))
    (call $result_read (i32.const 65536))
    (call $output_write (i32.const 65536) (local.get $n))
    (i32.const 0)))`,
}

/** A temporary modules directory with `guests` (name → WAT text; default: GUESTS). */
export function modulesDir(guests = GUESTS) {
  const dir = mkdtempSync(join(tmpdir(), 'wasm-probe-server-mods-'))
  for (const [name, wat] of Object.entries(guests)) writeFileSync(join(dir, `${name}.wat`), wat)
  return dir
}

/** A JSON file in a temporary directory. */
export function jsonFile(value, name = 'file.json') {
  const file = join(mkdtempSync(join(tmpdir(), 'wasm-probe-server-cfg-')), name)
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value))
  return file
}

/** Runs the server with `args` to its exit (for flags it refuses): { code, stdout, stderr }. */
export function runServer(args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('exit', (code) => resolve({ code, stdout, stderr }))
  })
}

/**
 * Starts the server with `args` (--port 0 and --host 127.0.0.1 are added) and resolves once it
 * listens: { url, logs, lines(predicate), stop(), exited, child }.
 */
export async function startServer(args) {
  const child = spawn(process.execPath, [bin, '--port', '0', '--host', '127.0.0.1', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const logs = []
  let stderr = ''
  let buffered = ''
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  const listening = new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      buffered += d
      let nl
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        let record
        try {
          record = JSON.parse(line)
        } catch {
          record = { unparsed: line }
        }
        logs.push(record)
        if (record.msg === 'listening') resolve(record.url)
      }
    })
    child.stderr.on('data', (d) => (stderr += d))
    exited.then(({ code }) => reject(new Error(`the server exited (${code}) before listening: ${stderr}`)))
  })
  const url = await listening
  return {
    url,
    child,
    logs,
    exited,
    get stderr() {
      return stderr
    },
    lines: (predicate) => logs.filter(predicate),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      return exited
    },
  }
}

/** fetch with a JSON body (when given) and the answer's JSON parsed: { status, headers, body }. */
export async function request(url, { method = 'GET', body, token, headers = {} } = {}) {
  const init = { method, headers: { ...headers } }
  if (token) init.headers.authorization = `Bearer ${token}`
  if (body !== undefined) {
    init.headers['content-type'] ??= 'application/json'
    init.body = typeof body === 'string' ? body : JSON.stringify(body)
  }
  const res = await fetch(url, init)
  const text = await res.text()
  let parsed = text
  try {
    parsed = text === '' ? undefined : JSON.parse(text)
  } catch {}
  return { status: res.status, headers: res.headers, body: parsed, text }
}

/** A loopback HTTP server whose handler may hold requests: { origin, requests, close() }. */
export async function loopback(handler) {
  const requests = []
  const server = createServer((req, res) => {
    requests.push({ method: req.method, url: req.url })
    handler(req, res)
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(resolve)
      }),
  }
}

/** Waits until `check()` is truthy (polling), failing after `ms`. */
export async function until(check, what, ms = 10_000) {
  const end = Date.now() + ms
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}
