// The server refuses a bad command line, policy or tokens file at start, exit code 2, with a
// message naming the flag, the file and the field.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { GUESTS, jsonFile, modulesDir, request, runServer, serverDir, startServer } from './helpers.mjs'

const mods = modulesDir({ echo: GUESTS.echo })

describe('start-up checks', () => {
  test.each([
    [[], '--modules DIR is required'],
    [['--modules', '/nonexistent/dir'], '--modules /nonexistent/dir: not a directory'],
    [['--modules', mods, '--port', 'http'], '--port must be an integer from 0 to 65535, not "http"'],
    [['--modules', mods, '--bogus'], "Unknown option '--bogus'"],
    [['--modules', mods, '--policy', '/nonexistent.json'], '--policy /nonexistent.json: cannot be read (ENOENT)'],
    [['--modules', mods, '--policy', jsonFile('{oops')], 'not JSON'],
    [['--modules', mods, '--policy', jsonFile({ modules: { echo: { capabilites: {} } } })], 'modules.echo.capabilites is not a known field'],
    [['--modules', mods, '--policy', jsonFile({ modules: { echo: { limits: 5 } } })], 'modules.echo.limits must be an object'],
    [['--modules', mods, '--policy', jsonFile({ modules: { other: {} } })], 'the policy names module "other", which is not in'],
    [['--modules', mods, '--tokens', jsonFile({ 'long-enough-token': { tenant: '', modules: [] } })], 'tenant must be a non-empty string'],
    [['--modules', mods, '--tokens', jsonFile({ 'long-enough-token': { tenant: 'a', modules: 'echo' } })], 'modules must be an array'],
    [['--modules', mods, '--tokens', jsonFile({ short: { tenant: 'a', modules: ['*'] } })], 'the token is shorter than 8 characters'],
    [['--modules', mods, '--tokens', jsonFile({ 'long-enough-token': { tenant: 'a:b', modules: ['*'] } })], `tenant "a:b" may only have letters`],
  ])('%j is refused: %s', async (args, message) => {
    const { code, stderr } = await runServer(args)
    expect(code).toBe(2)
    expect(stderr).toContain(message)
  })

  test('an empty modules directory, and two files that would be one module, are refused', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'wasm-probe-server-empty-'))
    const none = await runServer(['--modules', empty])
    expect(none.code).toBe(2)
    expect(none.stderr).toContain('no .wasm or .wat file in it')
    const twice = modulesDir({ echo: GUESTS.echo })
    writeFileSync(join(twice, 'echo.wasm'), Buffer.from('0061736d01000000', 'hex'))
    const both = await runServer(['--modules', twice])
    expect(both.code).toBe(2)
    expect(both.stderr).toContain('would both be module "echo"')
  })

  test('a guest that does not load is logged and left out; the rest are served', async () => {
    const dir = modulesDir({ echo: GUESTS.echo, broken: '(module (func (export "execute") (result i32)))' })
    const server = await startServer(['--modules', dir])
    try {
      const line = server.lines((l) => l.msg === 'module not loaded')[0]
      expect(line).toMatchObject({ module: 'broken', code: 'ERR_WASM_INVALID_MODULE' })
      const modules = await request(`${server.url}/v1/modules`)
      expect(modules.body.map((m) => m.name)).toEqual(['echo'])
    } finally {
      await server.stop()
    }
  })

  test('--help prints the usage', async () => {
    const { code, stdout } = await runServer(['--help'])
    expect(code).toBe(0)
    expect(stdout).toContain('usage: wasm-probe-server --modules DIR')
  })

  test("the README's quick start: examples/guests, module wat/word-count", async () => {
    const server = await startServer(['--modules', join(serverDir, '..', 'examples', 'guests')])
    try {
      const res = await request(`${server.url}/v1/execute`, { method: 'POST', body: { module: 'wat/word-count', input: { text: 'one two three' } } })
      expect(res.status).toBe(200)
      expect(res.body.output).toEqual({ words: 3 })
    } finally {
      await server.stop()
    }
  })
})
