// Bearer tokens (--tokens): 401 without a known token, 403 for a module the token may not use,
// /health open, the tenant in log lines and metric labels, and instances kept apart by tenant.
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { jsonFile, modulesDir, request, startServer, until } from './helpers.mjs'

const ACME = 'acme-token-0123456789'
const GLOBEX = 'globex-token-0123456789'
let server
let url
beforeAll(async () => {
  const tokens = jsonFile({ [ACME]: { tenant: 'acme', modules: ['echo', 'counter'] }, [GLOBEX]: { tenant: 'globex', modules: ['*'] } })
  server = await startServer(['--modules', modulesDir(), '--tokens', tokens])
  url = server.url
})
afterAll(() => server?.stop())

describe('tokens', () => {
  test('without a token or with an unknown one every route but /health is 401', async () => {
    for (const [method, path] of [
      ['POST', '/v1/execute'],
      ['POST', '/v1/invoke'],
      ['GET', '/v1/modules'],
      ['POST', '/v1/instances'],
      ['GET', '/metrics'],
    ]) {
      const body = method === 'POST' ? { module: 'echo', name: 'x' } : undefined
      const none = await request(`${url}${path}`, { method, body })
      expect(none.status, `${method} ${path}`).toBe(401)
      expect(none.headers.get('www-authenticate')).toBe('Bearer')
      expect(none.body.error.code).toBe('ERR_UNAUTHORIZED')
      const wrong = await request(`${url}${path}`, { method, body, token: 'not-a-token-at-all' })
      expect(wrong.status).toBe(401)
      expect(wrong.body.error.message).toBe('the bearer token is not known')
    }
    const basic = await request(`${url}/v1/modules`, { headers: { authorization: 'Basic eDp5' } })
    expect(basic.status).toBe(401)
    expect((await request(`${url}/health`)).status).toBe(200)
  })

  test('a module the token does not cover is 403, one it covers runs', async () => {
    const denied = await request(`${url}/v1/execute`, { method: 'POST', token: ACME, body: { module: 'trap' } })
    expect(denied.status).toBe(403)
    expect(denied.body.error).toEqual({ code: 'ERR_FORBIDDEN', message: 'the token of tenant "acme" may not use module "trap"' })
    // Not covered and not there at all: still 403, so a token does not reveal which modules exist.
    expect((await request(`${url}/v1/execute`, { method: 'POST', token: ACME, body: { module: 'secret' } })).status).toBe(403)
    expect((await request(`${url}/v1/instances`, { method: 'POST', token: ACME, body: { module: 'trap' } })).status).toBe(403)
    expect((await request(`${url}/v1/invoke`, { method: 'POST', token: ACME, body: { module: 'math', name: 'add', args: [1, 2] } })).status).toBe(403)
    const ok = await request(`${url}/v1/execute`, { method: 'POST', token: ACME, body: { module: 'echo', input: 7 } })
    expect(ok.status).toBe(200)
    expect(ok.body.output).toBe(7)
    // '*' covers everything; an unknown module is then 404.
    expect((await request(`${url}/v1/execute`, { method: 'POST', token: GLOBEX, body: { module: 'trap' } })).status).toBe(422)
    expect((await request(`${url}/v1/execute`, { method: 'POST', token: GLOBEX, body: { module: 'secret' } })).status).toBe(404)
  })

  test('GET /v1/modules lists what the token may use', async () => {
    const acme = await request(`${url}/v1/modules`, { token: ACME })
    expect(acme.body.map((m) => m.name)).toEqual(['counter', 'echo'])
    const globex = await request(`${url}/v1/modules`, { token: GLOBEX })
    expect(globex.body.length).toBe(7)
  })

  test("one tenant cannot see or use another tenant's instance", async () => {
    const { body } = await request(`${url}/v1/instances`, { method: 'POST', token: ACME, body: { module: 'counter' } })
    expect((await request(`${url}/v1/instances/${body.id}`, { token: GLOBEX })).status).toBe(404)
    expect((await request(`${url}/v1/instances/${body.id}/call`, { method: 'POST', token: GLOBEX, body: {} })).status).toBe(404)
    expect((await request(`${url}/v1/instances/${body.id}`, { method: 'DELETE', token: GLOBEX })).status).toBe(404)
    const own = await request(`${url}/v1/instances/${body.id}/call`, { method: 'POST', token: ACME, body: {} })
    expect(own.body.output).toBe(1)
  })

  test('the tenant is in the request log lines and the metric labels', async () => {
    await request(`${url}/v1/execute`, { method: 'POST', token: ACME, body: { module: 'echo', input: 'acme' } })
    await request(`${url}/v1/execute`, { method: 'POST', token: GLOBEX, body: { module: 'echo', input: 'globex' } })
    await until(() => server.lines((l) => l.msg === 'request' && l.tenant === 'globex' && l.module === 'echo').length > 0, 'a globex line')
    expect(server.lines((l) => l.msg === 'request' && l.tenant === 'acme' && l.module === 'echo' && l.code === 'ok').length).toBeGreaterThan(0)
    // Tokens never reach a log line.
    expect(server.logs.some((l) => JSON.stringify(l).includes(ACME))).toBe(false)
    const metrics = await request(`${url}/metrics`, { token: GLOBEX })
    const executions = parsePrometheusTextFormat(metrics.text).find((f) => f.name === 'wasm_probe_executions_total')
    const tenants = new Set(executions.metrics.filter((m) => m.labels.module === 'echo').map((m) => m.labels.tenant))
    expect(tenants).toEqual(new Set(['acme', 'globex']))
  })
})
