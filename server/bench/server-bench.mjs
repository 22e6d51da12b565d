#!/usr/bin/env node
// npm run bench:server — drives POST /v1/execute on loopback with autocannon for a bounded time
// and reports req/s, p50/p99 latency and errors, next to a bare Node HTTP server answering a
// constant JSON body (the ceiling), measured in the same run. Each server is its own process.
//   BENCH_SECONDS (default 5) per row, BENCH_CONNECTIONS (default 32).
import autocannon from 'autocannon'
import { spawn } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const repo = join(here, '..', '..')
const seconds = Number(process.env.BENCH_SECONDS ?? 5)
const connections = Number(process.env.BENCH_CONNECTIONS ?? 32)

// The bare ceiling: Node's http answering what the echo guest answers, with no guest at all.
const BARE = `
const body = JSON.stringify({ success: true, output: { n: 1 }, latencyMs: 0.01, metrics: {}, logs: [] })
require('node:http').createServer((req, res) => {
  req.resume()
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(body))
}).listen(0, '127.0.0.1', function () { console.log(JSON.stringify({ msg: 'listening', url: 'http://127.0.0.1:' + this.address().port })) })
`

function start(args) {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    let buffered = ''
    const onData = (d) => {
      buffered += d
      for (const line of buffered.split('\n')) {
        try {
          const record = JSON.parse(line)
          if (record.msg === 'listening') {
            // From here on its output (a line per request) is read and dropped.
            child.stdout.off('data', onData)
            child.stdout.resume()
            resolve({ url: record.url, stop: () => new Promise((r) => child.once('exit', r) && child.kill('SIGTERM')) })
          }
        } catch {}
      }
    }
    child.stdout.on('data', onData)
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code} before listening`)))
  })
}

function drive(url, body) {
  return new Promise((resolve, reject) => {
    autocannon(
      { url: `${url}/v1/execute`, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), connections, duration: seconds },
      (err, result) => (err ? reject(err) : resolve(result)),
    )
  })
}

const mods = mkdtempSync(join(tmpdir(), 'wasm-probe-server-bench-'))
copyFileSync(join(repo, '__test__', 'guests', 'echo.wat'), join(mods, 'echo.wat'))
const greet = join(repo, 'build', 'guests', 'js', 'greet.wasm')
if (!existsSync(greet)) throw new Error(`${greet} is missing: run npm run setup first`)
copyFileSync(greet, join(mods, 'greet.wasm'))
const cacheDir = join(repo, 'build', 'server-bench-cache')
mkdirSync(cacheDir, { recursive: true })

const rows = []
async function row(name, server, body) {
  await drive(server.url, body) // warm-up, not counted... kept short
    .catch(() => {})
  const r = await drive(server.url, body)
  rows.push({ name, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx, total: r.requests.total })
}

console.log(`wasm-probe-server bench — node ${process.version}, autocannon ${connections} connections, ${seconds} s per row (after a warm-up of the same length)`)
const bare = await start(['-e', BARE])
await row('bare Node http, constant JSON (ceiling)', bare, { module: 'echo', input: { n: 1 } })
await bare.stop()
const server = await start([join(here, '..', 'bin', 'wasm-probe-server.js'), '--port', '0', '--modules', mods, '--cache-dir', cacheDir])
await row('wasm-probe-server, echo (WAT)', server, { module: 'echo', input: { n: 1 } })
await row('wasm-probe-server, greet (componentize-js)', server, { module: 'greet', input: { name: 'Ada' } })
await server.stop()

const ceiling = rows[0].rps
console.log('')
console.log(['row'.padEnd(44), 'req/s'.padStart(9), 'p50 ms'.padStart(8), 'p99 ms'.padStart(8), 'errors'.padStart(7), 'non-2xx'.padStart(8), 'of ceiling'.padStart(11)].join(' '))
for (const r of rows) {
  console.log(
    [r.name.padEnd(44), r.rps.toFixed(0).padStart(9), String(r.p50).padStart(8), String(r.p99).padStart(8), String(r.errors).padStart(7), String(r.non2xx).padStart(8), `${((100 * r.rps) / ceiling).toFixed(0)}%`.padStart(11)].join(' '),
  )
}
