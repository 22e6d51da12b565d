// The example VS Code extension: a platform VSIX with exactly this target's binary, and the
// extension's logic (run a probe, CancellationToken -> AbortSignal, logs) from the packaged files.
import { createRequire } from 'node:module'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { inflateRawSync } from 'node:zlib'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { root, watGuest } from './helpers.mjs'

const ext = join(root, 'examples', 'vscode-extension')
const out = mkdtempSync(join(tmpdir(), 'wasm-probe-vsix-'))
afterAll(() => rmSync(out, { recursive: true, force: true }))

/** The vsce target of this machine. */
function thisTarget() {
  const musl = process.platform === 'linux' && !process.report.getReport().header.glibcVersionRuntime
  const os = process.platform === 'linux' && musl ? 'alpine' : process.platform
  return `${os}-${process.arch}`
}

/** Names and sizes of the entries of a zip file, from its central directory. */
function zipEntries(path) {
  const zip = readFileSync(path)
  let end = zip.length - 22
  while (end >= 0 && zip.readUInt32LE(end) !== 0x06054b50) end--
  const count = zip.readUInt16LE(end + 10)
  let at = zip.readUInt32LE(end + 16)
  const entries = []
  for (let i = 0; i < count; i++) {
    const nameLength = zip.readUInt16LE(at + 28)
    const extra = zip.readUInt16LE(at + 30)
    const comment = zip.readUInt16LE(at + 32)
    const local = zip.readUInt32LE(at + 42)
    const method = zip.readUInt16LE(at + 10)
    const compressed = zip.readUInt32LE(at + 20)
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28)
    const raw = zip.subarray(start, start + compressed)
    entries.push({
      name: zip.toString('utf8', at + 46, at + 46 + nameLength),
      size: zip.readUInt32LE(at + 24),
      read: () => (method === 8 ? inflateRawSync(raw) : raw).toString('utf8'),
    })
    at += 46 + nameLength + extra + comment
  }
  return entries
}

let vsix
let target
beforeAll(async () => {
  const { packageExtension, TARGETS } = await import(join(ext, 'scripts', 'package.mjs'))
  target = thisTarget()
  expect(Object.keys(TARGETS)).toContain(target)
  vsix = await packageExtension(target, out)
}, 120_000)

describe('the example extension', () => {
  test('its VSIX for this target carries exactly one native binary: this target’s', async () => {
    const { TARGETS } = await import(join(ext, 'scripts', 'package.mjs'))
    const entries = zipEntries(vsix)
    const natives = entries.filter((e) => e.name.endsWith('.node'))
    expect(natives.map((e) => e.name)).toEqual([`extension/dist/wasm-probe-runtime/wasm-probe-runtime.${TARGETS[target]}.node`])
    const names = entries.map((e) => e.name)
    expect(names).toEqual(expect.arrayContaining(['extension/package.json', 'extension/dist/extension.js', 'extension/dist/wasm-probe-runtime/index.js']))
    expect(names.some((n) => n.startsWith('extension/src/'))).toBe(false)
    const manifest = entries.find((e) => e.name === 'extension.vsixmanifest').read()
    expect(manifest).toContain(`TargetPlatform="${target}"`)
    console.log(`[sizes] ${target} VSIX: ${statSync(vsix).size} bytes; its .node: ${natives[0].size} bytes`)
  })

  test('its probe runner works from the packaged files: result, logs, cancellation, errors', async () => {
    const require = createRequire(import.meta.url)
    const { ProbeRunner, toAbortSignal } = require(join(ext, 'dist', 'probe-runner.js'))
    const runner = new ProbeRunner()
    const never = { isCancellationRequested: false, onCancellationRequested: () => ({ dispose() {} }) }
    const lines = []
    const ok = await runner.run({ file: join(root, 'examples', 'guests', 'wat', 'word-count.wat'), input: { text: 'a b' }, token: never, onLog: (l) => lines.push(l) })
    expect(ok.ok).toBe(true)
    expect(ok.headline).toMatch(/^word-count\.wat: \{"words":2\} \([\d.]+ ms\)$/)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/guest\/info: counted words$/)

    const cancelled = { isCancellationRequested: true, onCancellationRequested: () => ({ dispose() {} }) }
    expect((await runner.run({ file: watGuest('loop.wat'), input: null, token: cancelled, onLog() {} })).code).toBe('ERR_WASM_CANCELLED')
    let fire
    const later = { isCancellationRequested: false, onCancellationRequested: (f) => ((fire = f), { dispose() {} }) }
    setTimeout(() => fire(), 50)
    const stopped = await runner.run({ file: watGuest('loop.wat'), input: null, token: later, onLog() {} })
    expect(stopped).toMatchObject({ ok: false, code: 'ERR_WASM_CANCELLED' })
    const missing = await runner.run({ file: join(out, 'missing.wasm'), input: null, token: never, onLog() {} })
    expect(missing.code).toBe('ERR_WASM_INVALID_MODULE')
    expect(toAbortSignal(cancelled).signal.aborted).toBe(true)
    await runner.close()
  })
})
