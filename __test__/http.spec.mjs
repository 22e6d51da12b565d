// Guest HTTP against real loopback servers, for core modules (probe.http_fetch), components
// (probe:runtime/http.fetch) and componentize-js fetch() (wasi:http/outgoing-handler).
import { createServer } from 'node:http'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { WasmRuntime, guest, rejectsWith, root, watGuest } from './helpers.mjs'

const cacheDir = join(root, 'build', 'test-cache')

/** A loopback server that counts hits per path and can be slow, big, redirecting or busy. */
function startServer(routes) {
  const hits = new Map()
  let inFlight = 0
  let maxInFlight = 0
  const timers = new Set()
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname
    hits.set(path, (hits.get(path) || 0) + 1)
    inFlight++
    maxInFlight = Math.max(maxInFlight, inFlight)
    res.on('close', () => inFlight--)
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const route = routes[path]
      if (!route) {
        res.writeHead(404)
        res.end('no such route')
        return
      }
      route(req, res, Buffer.concat(chunks).toString(), (ms, fn) => {
        const t = setTimeout(() => {
          timers.delete(t)
          fn()
        }, ms)
        timers.add(t)
      })
    })
  })
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: server.address().port,
        hits: (path) => hits.get(path) || 0,
        maxInFlight: () => maxInFlight,
        resetMax: () => (maxInFlight = 0),
        close: () => {
          for (const t of timers) clearTimeout(t)
          server.closeAllConnections()
          return new Promise((r) => server.close(r))
        },
      })
    })
  })
}

let a // the server guests are granted
let b // another server, never granted
let rt
const origin = () => `http://127.0.0.1:${a.port}`
const grant = (extra = {}) => ({ capabilities: { http: { allow: [origin()], ...extra } } })

beforeAll(async () => {
  b = await startServer({
    '/secret': (req, res) => res.end('you should never see this'),
  })
  a = await startServer({
    '/hello': (req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-test': 'yes' })
      res.end('hello')
    },
    '/echo': (req, res, body) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ method: req.method, header: req.headers['x-probe'] || null, body }))
    },
    '/big': (req, res) => res.end('x'.repeat(1000)),
    '/slow': (req, res, body, later) => later(5000, () => res.end('late')),
    '/busy': (req, res, body, later) => later(150, () => res.end('done')),
    '/redirect-local': (req, res) => {
      res.writeHead(302, { location: '/hello' })
      res.end()
    },
    '/redirect-away': (req, res) => {
      res.writeHead(302, { location: `http://127.0.0.1:${b.port}/secret` })
      res.end()
    },
  })
  rt = new WasmRuntime({ cacheDir })
})

afterAll(async () => {
  await rt.close()
  await a.close()
  await b.close()
})

const GUESTS = [
  ['core module (probe.http_fetch)', () => watGuest('http-proxy.wat')],
  ['component (probe:runtime/http)', () => guest('test-js/imports.wasm')],
]

describe.each(GUESTS)('%s', (_, path) => {
  let m
  beforeAll(async () => {
    m = await rt.loadModule(path())
  })
  const fetchVia = async (request, options) => (await rt.executeProbe(m, request, options)).output

  test('an allowed request reaches the server; status, headers and body come back', async () => {
    const before = a.hits('/hello')
    const r = await fetchVia({ method: 'GET', url: `${origin()}/hello` }, grant())
    expect(r.ok.status).toBe(200)
    expect(r.ok.body).toBe('hello')
    expect(r.ok.headers).toContainEqual(['x-test', 'yes'])
    expect(a.hits('/hello')).toBe(before + 1)
  })

  test('method, headers and body are sent', async () => {
    const r = await fetchVia({ method: 'POST', url: `${origin()}/echo`, headers: [['x-probe', 'p1']], body: 'payload' }, grant())
    expect(JSON.parse(r.ok.body)).toEqual({ method: 'POST', header: 'p1', body: 'payload' })
  })

  test('denied without touching the network: no grant, other port, scheme, host name, user info, file:', async () => {
    const before = a.hits('/hello')
    const url = `${origin()}/hello`
    const noGrant = await fetchVia({ url })
    expect(noGrant.err.kind).toBe('denied')
    expect(noGrant.err.message).toMatch(/^Capability not granted: http/)
    const cases = [
      [{ url: `http://127.0.0.1:${b.port}/secret` }, grant()],
      [{ url: `https://127.0.0.1:${a.port}/hello` }, grant()],
      [{ url: `http://localhost:${a.port}/hello` }, grant()],
      [{ url: `http://user:pw@127.0.0.1:${a.port}/hello` }, grant()],
      [{ url: 'file:///etc/passwd' }, grant()],
      [{ url }, { capabilities: { http: { allow: [`http://localhost:${a.port}`] } } }],
    ]
    for (const [request, options] of cases) {
      const r = await fetchVia(request, options)
      expect(r.err?.kind, JSON.stringify(request)).toBe('denied')
    }
    expect(a.hits('/hello')).toBe(before)
    expect(b.hits('/secret')).toBe(0)
  })

  test('redirects are followed when allowed; a redirect elsewhere is refused and never contacted', async () => {
    const ok = await fetchVia({ url: `${origin()}/redirect-local` }, grant())
    expect(ok.ok).toMatchObject({ status: 200, body: 'hello' })
    const away = await fetchVia({ url: `${origin()}/redirect-away` }, grant())
    expect(away.err.kind).toBe('denied')
    expect(away.err.message).toMatch(/^redirect refused/)
    expect(b.hits('/secret')).toBe(0)
  })

  test('a response above maxResponseBytes is too-large', async () => {
    const r = await fetchVia({ url: `${origin()}/big` }, grant({ maxResponseBytes: 100 }))
    expect(r.err.kind).toBe('too-large')
    const fits = await fetchVia({ url: `${origin()}/big` }, grant({ maxResponseBytes: 1000 }))
    expect(fits.ok.body).toHaveLength(1000)
  })

  test("the request's own timeout answers timeout; the guest carries on", async () => {
    const started = performance.now()
    const r = await fetchVia({ url: `${origin()}/slow`, timeoutMs: 100 }, grant())
    expect(r.err.kind).toBe('timeout')
    expect(performance.now() - started).toBeLessThan(3000)
  })

  test('a slow upstream with a short execution timeout: ERR_WASM_TIMEOUT, promptly', async () => {
    const started = performance.now()
    await rejectsWith(rt.executeProbe(m, { url: `${origin()}/slow` }, { ...grant(), limits: { timeoutMs: 300 } }), 'ERR_WASM_TIMEOUT')
    expect(performance.now() - started).toBeLessThan(300 + 1000)
  })
})

describe('componentize-js fetch() (wasi:http/outgoing-handler)', () => {
  let m
  beforeAll(async () => {
    m = await rt.loadModule(guest('test-js/fetch.wasm'))
  })

  test('goes through the same grant and allowlist', async () => {
    const ok = await rt.executeProbe(m, { url: `${origin()}/hello` }, grant())
    expect(ok.output).toEqual({ status: 200, body: 'hello' })
    const denied = await rt.executeProbe(m, { url: `${origin()}/hello` })
    expect(denied.output.error).toBeDefined()
    const away = await rt.executeProbe(m, { url: `${origin()}/redirect-away` }, grant())
    expect(away.output.error).toBeDefined()
    expect(b.hits('/secret')).toBe(0)
  })

  test('maxConcurrent bounds the requests one execution has in flight', async () => {
    a.resetMax()
    const capped = await rt.executeProbe(m, { url: `${origin()}/busy`, count: 6 }, grant({ maxConcurrent: 2 }))
    expect(capped.output.every((r) => r.body === 'done')).toBe(true)
    expect(a.maxInFlight()).toBe(2)
    a.resetMax()
    await rt.executeProbe(m, { url: `${origin()}/busy`, count: 6 }, grant({ maxConcurrent: 10 }))
    expect(a.maxInFlight()).toBeGreaterThan(2)
  })
})

describe('the Node side', () => {
  test('a custom http handler performs the requests instead of fetch', async () => {
    const seen = []
    const custom = new WasmRuntime({
      http: async (req) => {
        seen.push(req)
        return { status: 203, headers: { 'x-from': 'handler' }, body: `handled ${req.method} ${req.url}` }
      },
    })
    const m = await custom.loadModule(watGuest('http-proxy.wat'))
    const before = a.hits('/hello')
    const r = (await custom.executeProbe(m, { method: 'PUT', url: `${origin()}/hello`, body: 'b' }, grant())).output
    expect(r.ok).toEqual({ status: 203, headers: [['x-from', 'handler']], body: `handled PUT ${origin()}/hello` })
    expect(seen).toHaveLength(1)
    expect(Buffer.from(seen[0].body).toString()).toBe('b')
    expect(a.hits('/hello')).toBe(before)
    await custom.close()
  })

  test("the handler is told the label of the execution or instance making the request", async () => {
    const seen = []
    const custom = new WasmRuntime({
      http: async (req) => {
        seen.push(req.label)
        return { status: 200, headers: {}, body: '' }
      },
    })
    const m = await custom.loadModule(watGuest('http-proxy.wat'))
    const request = { method: 'GET', url: `${origin()}/hello` }
    await custom.executeProbe(m, request, { ...grant(), label: 'tenant-a:probe' })
    await custom.executeProbe(m, request, grant())
    const instance = await custom.instantiate(m, { ...grant(), label: 'kept' })
    await instance.call('execute', request)
    expect(seen).toEqual(['tenant-a:probe', undefined, 'kept'])
    await instance.dispose()
    await custom.close()
  })

  test('a throwing or misbehaving handler becomes a failed answer, never a crash', async () => {
    const handlers = [
      async () => {
        throw new Error('handler exploded')
      },
      () => {
        throw new Error('sync throw')
      },
      async () => ({ status: 'nope' }),
      async () => null,
      async () => ({ status: 200, body: { not: 'bytes' } }),
    ]
    for (const http of handlers) {
      const custom = new WasmRuntime({ http })
      const m = await custom.loadModule(watGuest('http-proxy.wat'))
      const r = await custom.executeProbe(m, { url: `${origin()}/hello` }, grant())
      expect(r.success).toBe(true)
      expect(r.output.err.kind).toBe('failed')
      expect(r.output.err.message).toMatch(/handler/)
      await custom.close()
    }
  })

  test('a handler that never answers is bounded by the request timeout', async () => {
    const custom = new WasmRuntime({ http: () => new Promise(() => {}) })
    const m = await custom.loadModule(watGuest('http-proxy.wat'))
    const r = await custom.executeProbe(m, { url: `${origin()}/hello` }, grant({ timeoutMs: 100 }))
    expect(r.output.err.kind).toBe('timeout')
    await custom.close()
  })
})
