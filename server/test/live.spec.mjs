// Capabilities only from the policy (a loopback HTTP target), the capability log line, and the
// WebSocket of a long-lived instance: events arriving while the guest still waits on HTTP.
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { GUESTS, jsonFile, loopback, modulesDir, request, startServer, until } from './helpers.mjs'

let server
let target
// Requests the target holds until the test lets them go.
const held = []
beforeAll(async () => {
  target = await loopback((req, res) => {
    if (req.url.startsWith('/slow')) held.push(() => res.end(JSON.stringify({ slow: true })))
    else res.end(JSON.stringify({ path: req.url }))
  })
  const dir = modulesDir({ echo: GUESTS.echo, logger: GUESTS.logger, fetcher: GUESTS.fetcher, ungranted: GUESTS.fetcher })
  const policy = jsonFile({ modules: { fetcher: { capabilities: { http: { allow: [target.origin] } } } } })
  server = await startServer(['--modules', dir, '--policy', policy])
})
afterAll(async () => {
  await server?.stop()
  await target?.close()
})

const fetchInput = (path) => ({ method: 'GET', url: `${target.origin}${path}`, headers: [] })

describe('capabilities come from the policy', () => {
  test('the granted module reaches the loopback target; the same guest without the grant is denied', async () => {
    const granted = await request(`${server.url}/v1/execute`, { method: 'POST', body: { module: 'fetcher', input: fetchInput('/data?user=alice&key=s3cret') } })
    expect(granted.status).toBe(200)
    expect(granted.body.output.ok.status).toBe(200)
    expect(target.requests.at(-1).url).toBe('/data?user=alice&key=s3cret')
    const before = target.requests.length
    const denied = await request(`${server.url}/v1/execute`, { method: 'POST', body: { module: 'ungranted', input: fetchInput('/data') } })
    expect(denied.status).toBe(200)
    expect(denied.body.output.err.kind).toBe('denied')
    expect(target.requests.length).toBe(before)
  })

  test('each capability use is a log line with method and origin, never the path or query', async () => {
    const line = await until(() => server.lines((l) => l.msg === 'guest capability use')[0], 'the capability line')
    expect(line).toMatchObject({ tenant: 'anonymous', module: 'fetcher', capability: 'http', method: 'GET', origin: target.origin })
    const all = JSON.stringify(server.logs)
    expect(all).not.toContain('s3cret')
    expect(all).not.toContain('/data')
  })
})

/** A WebSocket on instance `id`, with every message it received. */
async function watch(id) {
  const socket = new WebSocket(`${server.url.replace('http', 'ws')}/v1/instances/${id}/events`)
  const messages = []
  socket.on('message', (data) => messages.push(JSON.parse(data.toString())))
  await new Promise((resolve, reject) => {
    socket.once('open', resolve)
    socket.once('error', reject)
  })
  return { socket, messages, closed: new Promise((resolve) => socket.once('close', (code) => resolve(code))) }
}

describe('the WebSocket of an instance', () => {
  test('an event reaches the socket while the guest still waits on a slow HTTP request; the result follows', async () => {
    const { body } = await request(`${server.url}/v1/instances`, { method: 'POST', body: { module: 'fetcher' } })
    const ws = await watch(body.id)
    await until(() => ws.messages.length > 0, 'the first state message')
    expect(ws.messages[0]).toEqual({ type: 'state', state: 'ready' })
    ws.socket.send(JSON.stringify({ type: 'call', id: 'c1', input: fetchInput('/slow') }))
    await until(() => held.length === 1, 'the guest request to be held by the target')
    // The request is still held, and the event is already here.
    const event = await until(() => ws.messages.find((m) => m.type === 'event'), 'the event')
    expect(event).toMatchObject({ type: 'event', name: 'fetching', data: { step: 1 } })
    expect(event.timestamp).toBeGreaterThan(0)
    expect(ws.messages.some((m) => m.type === 'result')).toBe(false)
    held.shift()()
    const result = await until(() => ws.messages.find((m) => m.type === 'result'), 'the result')
    expect(result).toMatchObject({ type: 'result', id: 'c1', success: true })
    expect(JSON.parse(result.output.ok.body)).toEqual({ slow: true })
    ws.socket.close()
    await request(`${server.url}/v1/instances/${body.id}`, { method: 'DELETE' })
  })

  test('calls made over HTTP stream their logs to the socket; errors come back as results; disposing closes it', async () => {
    const { body } = await request(`${server.url}/v1/instances`, { method: 'POST', body: { module: 'logger' } })
    const ws = await watch(body.id)
    const rest = await request(`${server.url}/v1/instances/${body.id}/call`, { method: 'POST', body: {} })
    expect(rest.body.output).toEqual({ ok: true })
    const log = await until(() => ws.messages.find((m) => m.type === 'log'), 'the log message')
    expect(log).toMatchObject({ type: 'log', level: 'info', message: 'hello', source: 'guest' })
    ws.socket.send(JSON.stringify({ type: 'call', id: 2, export: 'nope' }))
    const failed = await until(() => ws.messages.find((m) => m.type === 'result'), 'the failed result')
    expect(failed).toMatchObject({ type: 'result', id: 2, error: { code: 'ERR_WASM_NO_EXPORT' } })
    for (const bad of ['not json', '[]', '{"type":"cast","id":1}', '{"type":"call"}', '{"type":"call","id":1,"export":""}']) ws.socket.send(bad)
    await until(() => ws.messages.filter((m) => m.type === 'error').length === 5, 'five error messages')
    expect(ws.messages.filter((m) => m.type === 'error').map((m) => m.message)).toEqual([
      expect.stringContaining('the message is not JSON'),
      'a message must be a JSON object',
      'message.type: must be "call", not "cast"',
      'message.id: must be a string or a number',
      'message.export: must be a non-empty string',
    ])
    await request(`${server.url}/v1/instances/${body.id}`, { method: 'DELETE' })
    expect(await ws.closed).toBe(1000)
    expect(ws.messages.at(-1)).toMatchObject({ type: 'state', state: 'disposed' })
  })

  test('an unknown instance is refused before the upgrade with 404', async () => {
    const socket = new WebSocket(`${server.url.replace('http', 'ws')}/v1/instances/nope/events`)
    const status = await new Promise((resolve) => socket.once('unexpected-response', (_req, res) => resolve(res.statusCode)))
    expect(status).toBe(404)
  })
})
