// Every route of the API and every error status, against the real server on loopback.
import { request as httpRequest } from 'node:http'
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { jsonFile, modulesDir, request, startServer, until } from './helpers.mjs'

let server
let url
beforeAll(async () => {
  const policy = jsonFile({ defaults: { limits: { timeoutMs: 2000 } }, modules: { loop: { limits: { timeoutMs: 300 } } } })
  server = await startServer(['--modules', modulesDir(), '--policy', policy, '--max-instances', '2'])
  url = server.url
})
afterAll(() => server?.stop())

const execute = (body) => request(`${url}/v1/execute`, { method: 'POST', body })

/** POSTs `text` and resolves with the answer's status and JSON body, even if the upload is cut short. */
function answerOfUpload(target, text) {
  return new Promise((resolve, reject) => {
    const req = httpRequest(target, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      let data = ''
      res.on('data', (d) => (data += d))
      res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(data) }))
    })
    req.on('error', (e) => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? undefined : reject(e)))
    req.end(text)
  })
}

describe('POST /v1/execute', () => {
  test('runs the module and answers its result', async () => {
    const res = await execute({ module: 'echo', input: { word: 'hi', n: [1, 2] } })
    expect(res.status).toBe(200)
    expect(res.body.success).toBe(true)
    expect(res.body.output).toEqual({ word: 'hi', n: [1, 2] })
    expect(res.body.latencyMs).toBeGreaterThan(0)
    expect(Object.keys(res.body.metrics)).toEqual(expect.arrayContaining(['instantiateUs', 'runUs', 'memoryPeakBytes', 'hostCalls']))
    expect(res.body.logs).toEqual([])
  })

  test('another export, and the guest logs in the answer', async () => {
    const res = await execute({ module: 'logger', export: 'execute' })
    expect(res.status).toBe(200)
    expect(res.body.output).toEqual({ ok: true })
    expect(res.body.logs).toEqual([expect.objectContaining({ level: 'info', message: 'hello', source: 'guest' })])
    // The guest's record is also one log line of the server, with tenant and module.
    const line = await until(() => server.lines((l) => l.msg === 'guest log' && l.module === 'logger')[0], 'the guest log line')
    expect(line).toMatchObject({ tenant: 'anonymous', guest: { level: 'info', message: 'hello', source: 'guest' } })
  })

  test('a runtime error is 422 with its code and message', async () => {
    const trap = await execute({ module: 'trap' })
    expect(trap.status).toBe(422)
    expect(trap.body.error.code).toBe('ERR_WASM_TRAP')
    expect(trap.body.error.message).toMatch(/unreachable/)
    const missing = await execute({ module: 'echo', export: 'nope' })
    expect(missing.status).toBe(422)
    expect(missing.body.error.code).toBe('ERR_WASM_NO_EXPORT')
    // The policy's limits apply: the loop stops at its 300 ms.
    const loop = await execute({ module: 'loop' })
    expect(loop.status).toBe(422)
    expect(loop.body.error.code).toBe('ERR_WASM_TIMEOUT')
  })

  test('an unknown module is 404', async () => {
    const res = await execute({ module: 'nope' })
    expect(res.status).toBe(404)
    expect(res.body.error).toEqual({ code: 'ERR_NOT_FOUND', message: 'no module "nope"' })
  })

  test.each([
    ['{"module":"echo"', 'the body is not valid JSON'],
    ['', 'body: must be an object'],
    ['{"module":"echo","__proto__":{"x":1}}', 'the body is not valid JSON'],
    ['[1]', 'body: must be an object'],
    ['{}', 'body.module: is required'],
    ['{"module":5}', 'body.module: must be a string'],
    ['{"module":""}', 'body.module: must not be empty'],
    ['{"module":"echo","export":false}', 'body.export: must be a string'],
    ['{"module":"echo","capabilities":{"http":{"allow":["*"]}}}', 'body.capabilities: is not a known field'],
  ])('bad body %s is 400 naming the field', async (body, message) => {
    const res = await execute(body)
    expect(res.status).toBe(400)
    expect(res.body.error.code).toBe('ERR_BAD_REQUEST')
    expect(res.body.error.message).toContain(message)
  })

  test('a body that is not JSON is 415; one over 8 MiB is 413', async () => {
    const text = await request(`${url}/v1/execute`, { method: 'POST', body: 'module=echo', headers: { 'content-type': 'text/plain' } })
    expect(text.status).toBe(415)
    expect(text.body.error.code).toBe('ERR_UNSUPPORTED_MEDIA_TYPE')
    // The server reads and drops the rest of a too-large upload (bounded) before it answers 413
    // and closes the connection; node:http keeps the answer even if a write fails after it.
    const big = await answerOfUpload(`${url}/v1/execute`, JSON.stringify({ module: 'echo', input: 'x'.repeat(8 * 1024 * 1024) }))
    expect(big.status).toBe(413)
    expect(big.body.error).toEqual({ code: 'ERR_BODY_TOO_LARGE', message: 'the request body is over 8388608 bytes' })
    // Just under the limit is accepted and reaches the guest (whose one page of memory cannot hold it).
    const under = await execute({ module: 'echo', input: 'x'.repeat(8 * 1024 * 1024 - 100) })
    expect(under.status).toBe(422)
    expect(under.body.error.code).toMatch(/^ERR_WASM_/)
  })
})

describe('POST /v1/invoke', () => {
  test('calls a function with JSON values; 64-bit integers go both ways as strings', async () => {
    const res = await request(`${url}/v1/invoke`, { method: 'POST', body: { module: 'math', name: 'add', args: ['9007199254740993', 2] } })
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ value: '9007199254740995' })
  })

  test('a value that does not fit is 400 naming the argument; an unknown function 422', async () => {
    const bad = await request(`${url}/v1/invoke`, { method: 'POST', body: { module: 'math', name: 'add', args: ['x', 1] } })
    expect(bad.status).toBe(400)
    expect(bad.body.error.code).toBe('ERR_INVALID_ARG_VALUE')
    expect(bad.body.error.message).toContain('args[0]')
    const none = await request(`${url}/v1/invoke`, { method: 'POST', body: { module: 'math', name: 'sub', args: [] } })
    expect(none.status).toBe(422)
    expect(none.body.error.code).toBe('ERR_WASM_NO_EXPORT')
    const shape = await request(`${url}/v1/invoke`, { method: 'POST', body: { module: 'math', name: 'add', args: 1 } })
    expect(shape.status).toBe(400)
    expect(shape.body.error.message).toBe('body.args: must be an array')
  })
})

describe('GET /v1/modules', () => {
  test('lists every module with name, kind, hash, size and exports', async () => {
    const res = await request(`${url}/v1/modules`)
    expect(res.status).toBe(200)
    expect(res.body.map((m) => m.name)).toEqual(['counter', 'echo', 'fetcher', 'logger', 'loop', 'math', 'trap'])
    const echo = res.body.find((m) => m.name === 'echo')
    expect(echo).toMatchObject({ kind: 'module', exports: ['memory', 'execute'] })
    expect(echo.hash).toMatch(/^[0-9a-f]{64}$/)
    expect(echo.size).toBeGreaterThan(0)
  })
})

describe('long-lived instances', () => {
  test('create, call (state kept), look at, dispose', async () => {
    const created = await request(`${url}/v1/instances`, { method: 'POST', body: { module: 'counter' } })
    expect(created.status).toBe(201)
    const { id } = created.body
    expect(id).toMatch(/^[0-9a-f-]{36}$/)
    const one = await request(`${url}/v1/instances/${id}/call`, { method: 'POST', body: {} })
    const two = await request(`${url}/v1/instances/${id}/call`, { method: 'POST', body: { export: 'execute', input: null } })
    expect([one.status, two.status]).toEqual([200, 200])
    expect([one.body.output, two.body.output]).toEqual([1, 2])
    // A call needs no body at all, also with a JSON content type and nothing in it.
    const three = await request(`${url}/v1/instances/${id}/call`, { method: 'POST' })
    const four = await request(`${url}/v1/instances/${id}/call`, { method: 'POST', body: '' })
    expect([three.status, four.status]).toEqual([200, 200])
    expect([three.body.output, four.body.output]).toEqual([3, 4])
    const look = await request(`${url}/v1/instances/${id}`)
    expect(look.body).toEqual({ id, module: 'counter', state: 'ready' })
    const gone = await request(`${url}/v1/instances/${id}`, { method: 'DELETE', headers: { 'content-type': 'application/json' } })
    expect(gone.status).toBe(204)
    expect((await request(`${url}/v1/instances/${id}`)).status).toBe(404)
    expect((await request(`${url}/v1/instances/${id}/call`, { method: 'POST', body: {} })).status).toBe(404)
    expect((await request(`${url}/v1/instances/${id}`, { method: 'DELETE' })).status).toBe(404)
  })

  test('a call error is 422; an unknown module 404; a bad body 400', async () => {
    const { body } = await request(`${url}/v1/instances`, { method: 'POST', body: { module: 'echo' } })
    const res = await request(`${url}/v1/instances/${body.id}/call`, { method: 'POST', body: { export: 'nope' } })
    expect(res.status).toBe(422)
    expect(res.body.error.code).toBe('ERR_WASM_NO_EXPORT')
    const shape = await request(`${url}/v1/instances/${body.id}/call`, { method: 'POST', body: { exports: 'x' } })
    expect(shape.status).toBe(400)
    expect(shape.body.error.message).toBe('body.exports: is not a known field')
    expect((await request(`${url}/v1/instances`, { method: 'POST', body: { module: 'nope' } })).status).toBe(404)
    await request(`${url}/v1/instances/${body.id}`, { method: 'DELETE' })
  })

  test('at capacity (--max-instances 2) a new instance is 503 with Retry-After', async () => {
    const a = await request(`${url}/v1/instances`, { method: 'POST', body: { module: 'echo' } })
    const b = await request(`${url}/v1/instances`, { method: 'POST', body: { module: 'echo' } })
    expect([a.status, b.status]).toEqual([201, 201])
    const c = await request(`${url}/v1/instances`, { method: 'POST', body: { module: 'echo' } })
    expect(c.status).toBe(503)
    expect(c.headers.get('retry-after')).toBe('1')
    expect(c.body.error.code).toBe('ERR_WASM_BUSY')
    // Executions are still served while instances fill their capacity.
    expect((await execute({ module: 'echo', input: 1 })).status).toBe(200)
    await request(`${url}/v1/instances/${a.body.id}`, { method: 'DELETE' })
    expect((await request(`${url}/v1/instances`, { method: 'POST', body: { module: 'echo' } })).status).toBe(201)
  })
})

describe('service routes', () => {
  test('GET /health', async () => {
    const res = await request(`${url}/health`)
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ status: 'ok' })
  })

  test('an unknown route is 404 with the error shape', async () => {
    const res = await request(`${url}/v2/execute`, { method: 'POST', body: {} })
    expect(res.status).toBe(404)
    expect(res.body.error.code).toBe('ERR_NOT_FOUND')
  })

  test('GET /metrics parses as Prometheus text with the contract metrics', async () => {
    await execute({ module: 'echo', input: 1 })
    await execute({ module: 'trap' })
    const res = await request(`${url}/metrics`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/)
    const families = Object.fromEntries(parsePrometheusTextFormat(res.text).map((f) => [f.name, f]))
    const executions = families.wasm_probe_executions_total
    expect(executions.type).toBe('COUNTER')
    const count = (module, code) => Number(executions.metrics.find((m) => m.labels.module === module && m.labels.code === code)?.value ?? 0)
    expect(count('echo', 'ok')).toBeGreaterThanOrEqual(1)
    expect(count('trap', 'ERR_WASM_TRAP')).toBeGreaterThanOrEqual(2)
    expect(count('loop', 'ERR_WASM_TIMEOUT')).toBe(1)
    expect(executions.metrics.every((m) => m.labels.tenant === 'anonymous')).toBe(true)
    const seconds = families.wasm_probe_execution_seconds
    expect(seconds.type).toBe('HISTOGRAM')
    // parse-prometheus-text-format folds a labelled histogram into its buckets alone, so its
    // per-module count is read from the exposition line itself.
    const echoCount = Number(/^wasm_probe_execution_seconds_count\{module="echo",tenant="anonymous"\} (\d+)$/m.exec(res.text)?.[1])
    const echoTotal = executions.metrics.filter((m) => m.labels.module === 'echo').reduce((sum, m) => sum + Number(m.value), 0)
    expect(echoCount).toBe(echoTotal)
    for (const name of ['wasm_probe_active', 'wasm_probe_queued', 'wasm_probe_instances']) {
      expect(families[name].type).toBe('GAUGE')
    }
    expect(Number(families.wasm_probe_active.metrics[0].value)).toBe(0)
    expect(Number(families.wasm_probe_instances.metrics[0].value)).toBe(2)
  })

  test('one request log line per request with tenant, module, export, duration and outcome', async () => {
    await execute({ module: 'trap' })
    const line = await until(() => server.lines((l) => l.msg === 'request' && l.module === 'trap').at(-1), 'the request line')
    expect(line).toMatchObject({ tenant: 'anonymous', route: '/v1/execute', module: 'trap', export: 'execute', code: 'ERR_WASM_TRAP', status: 422 })
    expect(line.durationMs).toBeGreaterThan(0)
  })
})
