// Faults: a client that goes away cancels its execution; looping, trapping and log-flooding
// guests leave other requests alone; SIGTERM drains (health 503, new work refused, running work
// finishes, exit 0) and cancels what outlives the drain timeout.
import { request as httpRequest } from 'node:http'
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { GUESTS, jsonFile, loopback, modulesDir, request, startServer, until } from './helpers.mjs'

async function metric(url, name, labels = {}) {
  const { text } = await request(`${url}/metrics`)
  const family = parsePrometheusTextFormat(text).find((f) => f.name === name)
  const samples = (family?.metrics ?? []).filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
  return samples.reduce((sum, m) => sum + Number(m.value), 0)
}

/** POST /v1/execute with a raw request that the test can abandon. */
function abandonable(url, body) {
  const req = httpRequest(`${url}/v1/execute`, { method: 'POST', headers: { 'content-type': 'application/json' } })
  req.on('error', () => {})
  req.end(JSON.stringify(body))
  return req
}

describe('one server', () => {
  let server
  beforeAll(async () => {
    const policy = jsonFile({ modules: { loop: { limits: { timeoutMs: 20_000 } } }, defaults: { limits: { timeoutMs: 1500 } } })
    // `spin` is `loop` under the default 1.5 s timeout.
    server = await startServer(['--modules', modulesDir({ ...GUESTS, spin: GUESTS.loop }), '--policy', policy])
  })
  afterAll(() => server?.stop())

  test('a client that disconnects cancels its execution', async () => {
    const req = abandonable(server.url, { module: 'loop' })
    await until(async () => (await metric(server.url, 'wasm_probe_active')) === 1, 'the loop to run')
    req.destroy()
    await until(async () => (await metric(server.url, 'wasm_probe_executions_total', { module: 'loop', code: 'ERR_WASM_CANCELLED' })) === 1, 'the cancellation')
    expect(await metric(server.url, 'wasm_probe_active')).toBe(0)
    const line = await until(() => server.lines((l) => l.msg === 'request' && l.module === 'loop')[0], 'the request line')
    expect(line).toMatchObject({ status: 499, code: 'ERR_WASM_CANCELLED', tenant: 'anonymous' })
  })

  test('a WebSocket that closes cancels the calls it started', async () => {
    const { body } = await request(`${server.url}/v1/instances`, { method: 'POST', body: { module: 'loop' } })
    const socket = new WebSocket(`${server.url.replace('http', 'ws')}/v1/instances/${body.id}/events`)
    await new Promise((resolve) => socket.once('open', resolve))
    socket.send(JSON.stringify({ type: 'call', id: 1 }))
    await until(async () => (await metric(server.url, 'wasm_probe_active')) === 1, 'the call to run')
    socket.close()
    await until(async () => (await metric(server.url, 'wasm_probe_executions_total', { module: 'loop', code: 'ERR_WASM_CANCELLED' })) === 2, 'the cancellation')
    await request(`${server.url}/v1/instances/${body.id}`, { method: 'DELETE' })
  })

  test('looping, trapping and log-flooding guests leave other requests alone', async () => {
    const execute = (body) => request(`${server.url}/v1/execute`, { method: 'POST', body })
    // Two loops occupy both worker threads until their timeout while the others run.
    const bad = [execute({ module: 'spin' }), execute({ module: 'spin' }), execute({ module: 'trap' }), execute({ module: 'logger', export: 'flood' })]
    await until(async () => (await metric(server.url, 'wasm_probe_active')) >= 2, 'the loops to run')
    const echoes = await Promise.all(Array.from({ length: 50 }, (_, i) => execute({ module: 'echo', input: i })))
    expect(echoes.map((r) => r.status)).toEqual(Array(50).fill(200))
    expect(echoes.map((r) => r.body.output)).toEqual(Array.from({ length: 50 }, (_, i) => i))
    const [spin1, spin2, trap, flood] = await Promise.all(bad)
    expect([spin1.body.error.code, spin2.body.error.code]).toEqual(['ERR_WASM_TIMEOUT', 'ERR_WASM_TIMEOUT'])
    expect(trap.status).toBe(422)
    expect(flood.status).toBe(200)
    // The flood is bounded by the runtime: far fewer records than the 100 000 calls.
    expect(flood.body.logs.length).toBeLessThan(10_000)
    expect(flood.body.logs.at(-1).message).toMatch(/log records dropped/)
    // ... and so are the server's own log lines of it.
    expect(server.lines((l) => l.msg === 'guest log' && l.module === 'logger').length).toBeLessThanOrEqual(flood.body.logs.length)
    expect((await request(`${server.url}/health`)).status).toBe(200)
  })
})

describe('SIGTERM', () => {
  let target
  const held = []
  beforeAll(async () => {
    target = await loopback((req, res) => held.push(() => res.end('{}')))
  })
  afterAll(() => target?.close())

  const grant = () => jsonFile({ modules: { fetcher: { capabilities: { http: { allow: [target.origin] } } } } })
  const slowFetch = () => ({ module: 'fetcher', input: { method: 'GET', url: `${target.origin}/slow`, headers: [] } })

  test('drains: /health 503, new requests 503 with Retry-After, the running one finishes, exit 0', async () => {
    const server = await startServer(['--modules', modulesDir(), '--policy', grant()])
    const running = request(`${server.url}/v1/execute`, { method: 'POST', body: slowFetch() })
    await until(() => held.length === 1, 'the guest request to be held')
    server.child.kill('SIGTERM')
    await until(async () => (await request(`${server.url}/health`)).status === 503, '/health to turn 503')
    expect((await request(`${server.url}/health`)).body).toEqual({ status: 'draining' })
    const refused = await request(`${server.url}/v1/execute`, { method: 'POST', body: { module: 'echo' } })
    expect(refused.status).toBe(503)
    expect(refused.headers.get('retry-after')).toBe('1')
    expect(refused.body.error.code).toBe('ERR_DRAINING')
    expect(server.child.exitCode).toBe(null)
    held.shift()()
    const finished = await running
    expect(finished.status).toBe(200)
    expect(finished.body.output.ok.status).toBe(200)
    expect(await server.exited).toEqual({ code: 0, signal: null })
    expect(server.lines((l) => l.msg === 'drained')[0]).toMatchObject({ finished: true })
  })

  test('what still runs at the drain timeout is cancelled; the server exits 0', async () => {
    const server = await startServer(['--modules', modulesDir(), '--policy', grant(), '--drain-timeout-ms', '300'])
    const running = request(`${server.url}/v1/execute`, { method: 'POST', body: slowFetch() })
    await until(() => held.length === 1, 'the guest request to be held')
    server.child.kill('SIGTERM')
    const answer = await running
    expect(answer.status).toBe(422)
    expect(answer.body.error.code).toBe('ERR_WASM_CANCELLED')
    expect(await server.exited).toEqual({ code: 0, signal: null })
    expect(server.lines((l) => l.msg.startsWith('drained'))[0]).toMatchObject({ finished: false })
    held.shift()()
  })
})
