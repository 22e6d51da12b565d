// The example VS Code extension: a platform VSIX with exactly this target's binary and its guests
// precompiled for that target, and the extension's logic (run a probe, precompiled guests and the
// fallback when their artifact is refused, CancellationToken -> AbortSignal, logs) from the
// packaged files.
import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
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
    expect(natives.map((e) => e.name)).toEqual([`extension/dist/wasm-probe-runtime/wasm-probe-runtime.${TARGETS[target].binary}.node`])
    const names = entries.map((e) => e.name)
    expect(names).toEqual(
      expect.arrayContaining([
        'extension/package.json',
        'extension/dist/extension.js',
        'extension/dist/wasm-probe-runtime/index.js',
        'extension/dist/wasm-probe-runtime/binding.js',
        // index.js starts large compiles in a child process running this file from its own directory.
        'extension/dist/wasm-probe-runtime/lib/compile-worker.js',
        ...readdirSync(join(root, 'lib')).map((f) => `extension/dist/wasm-probe-runtime/lib/${f}`),
        'extension/dist/guests/word-count.wasm',
        'extension/dist/guests/word-count.cwasm',
        'extension/dist/guests/greet.wasm',
      ]),
    )
    const worker = entries.find((e) => e.name === 'extension/dist/wasm-probe-runtime/lib/compile-worker.js')
    expect(worker.read()).toBe(readFileSync(join(root, 'lib', 'compile-worker.js'), 'utf8'))
    const artifacts = entries.filter((e) => e.name.endsWith('.cwasm'))
    expect(artifacts.map((e) => e.name).sort()).toEqual([
      'extension/dist/guests/greet.cwasm',
      'extension/dist/guests/text-stats.cwasm',
      'extension/dist/guests/word-count.cwasm',
    ])
    expect(names.some((n) => n.startsWith('extension/src/'))).toBe(false)
    const manifest = entries.find((e) => e.name === 'extension.vsixmanifest').read()
    expect(manifest).toContain(`TargetPlatform="${target}"`)
    console.log(`[sizes] ${target} VSIX: ${statSync(vsix).size} bytes; its .node: ${natives[0].size} bytes; ${artifacts.map((a) => `${a.name.split('/').pop()}: ${a.size} bytes`).join('; ')}`)
  })

  test('its bundled guests run from their precompiled artifact, and from the .wasm when the artifact is refused', async () => {
    const require = createRequire(import.meta.url)
    const { ProbeRunner, neverCancelled: never } = require(join(ext, 'dist', 'probe-runner.js'))
    const count = (runner, text) => runner.runBundled({ guest: 'word-count', input: { text }, token: never, onLog() {} })

    // As packaged: dist/guests/ next to the bundle, the artifact for this target, nothing to log.
    const logged = []
    const packaged = new ProbeRunner({ log: (l) => logged.push(l) })
    expect(packaged.bundledGuests()).toEqual(['greet', 'text-stats', 'word-count'])
    // The JavaScript guest (componentize-js): from its artifact, no compile.
    const greeted = await packaged.runBundled({ guest: 'greet', input: { name: 'Ada' }, token: never, onLog() {} })
    expect(greeted).toMatchObject({ ok: true, loadedFrom: join(ext, 'dist', 'guests', 'greet.cwasm') })
    expect(greeted.result.output).toMatchObject({ greeting: 'hello, Ada', language: 'javascript' })
    // The typed guest: a string in, a record out, from its precompiled artifact.
    const stats = await packaged.summarize('one two\nthree', never)
    expect(stats).toEqual({ ok: true, value: { words: 3, lines: 2, longestWord: 'three' } })
    const wrong = await packaged.invokeBundled({ guest: 'text-stats', name: 'example:text/stats@0.1.0#summarize', args: [42], token: never })
    expect(wrong).toMatchObject({ ok: false, code: 'ERR_INVALID_ARG_VALUE' })
    const fast = await count(packaged, 'a b c')
    expect(fast).toMatchObject({ ok: true, loadedFrom: join(ext, 'dist', 'guests', 'word-count.cwasm') })
    expect(fast.headline).toMatch(/^word-count\.wasm: \{"words":3\} \([\d.]+ ms\)$/)
    expect(logged).toEqual([])
    const unknown = await packaged.runBundled({ guest: 'nope', input: null, token: never, onLog() {} })
    expect(unknown).toMatchObject({ ok: false, code: 'ERR_INVALID_ARG_VALUE' })
    await packaged.close()

    // A damaged artifact: refused (saying so in the log), the .wasm compiled instead, once.
    const damagedDir = join(out, 'damaged-guests')
    mkdirSync(damagedDir, { recursive: true })
    for (const f of ['word-count.wasm', 'word-count.cwasm']) copyFileSync(join(ext, 'dist', 'guests', f), join(damagedDir, f))
    const bytes = readFileSync(join(damagedDir, 'word-count.cwasm'))
    bytes[bytes.length >> 1] ^= 0xff
    writeFileSync(join(damagedDir, 'word-count.cwasm'), bytes)
    const damagedLog = []
    const damaged = new ProbeRunner({ guestsDir: damagedDir, log: (l) => damagedLog.push(l) })
    const slow = await count(damaged, 'one two')
    expect(slow).toMatchObject({ ok: true, loadedFrom: join(damagedDir, 'word-count.wasm') })
    expect(slow.headline).toMatch(/^word-count\.wasm: \{"words":2\}/)
    expect(damagedLog).toHaveLength(1)
    expect(damagedLog[0]).toMatch(/^precompiled .*word-count\.cwasm not used \(ERR_WASM_INVALID_MODULE: .*damaged.*\); compiling .*word-count\.wasm instead$/)
    expect((await count(damaged, 'x')).loadedFrom).toBe(join(damagedDir, 'word-count.wasm'))
    expect(damagedLog).toHaveLength(1)
    await damaged.close()

    // Guests packaged for another target (a VSIX installed on the wrong platform): the same fallback.
    const { precompileGuests } = await import(join(ext, 'scripts', 'package.mjs'))
    const foreignDir = join(out, 'foreign-guests')
    const foreign = process.arch === 'arm64' ? 'x86_64-unknown-linux-gnu' : 'aarch64-unknown-linux-gnu'
    expect(await precompileGuests(foreignDir, foreign, ['word-count', 'text-stats'])).toEqual(
      ['word-count.wasm', 'word-count.cwasm', 'text-stats.wasm', 'text-stats.cwasm'].map((f) => join(foreignDir, f)),
    )
    const foreignLog = []
    const elsewhere = new ProbeRunner({ guestsDir: foreignDir, log: (l) => foreignLog.push(l) })
    expect(await count(elsewhere, 'a')).toMatchObject({ ok: true, loadedFrom: join(foreignDir, 'word-count.wasm') })
    expect(foreignLog[0]).toMatch(/ERR_WASM_INVALID_MODULE: .*made by another engine build, configuration or target/)
    await elsewhere.close()

    // A file the user picks is compiled from source: a .cwasm beside it is never loaded.
    const picked = join(out, 'picked')
    mkdirSync(picked, { recursive: true })
    copyFileSync(join(root, 'examples', 'guests', 'wat', 'word-count.wat'), join(picked, 'word-count.wat'))
    copyFileSync(join(ext, 'dist', 'guests', 'word-count.cwasm'), join(picked, 'word-count.cwasm'))
    const user = new ProbeRunner()
    expect(await user.run({ file: join(picked, 'word-count.wat'), input: { text: 'a' }, token: never, onLog() {} })).toMatchObject({
      ok: true,
      loadedFrom: join(picked, 'word-count.wat'),
    })
    await user.close()
  })

  test('its probe runner works from the packaged files: result, logs, cancellation, errors', async () => {
    const require = createRequire(import.meta.url)
    const { ProbeRunner, toAbortSignal, neverCancelled: never } = require(join(ext, 'dist', 'probe-runner.js'))
    const runner = new ProbeRunner()
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

  test('the check CI runs on each target passes on this VSIX: its guests run from their artifacts', () => {
    const report = execFileSync(process.execPath, [join(ext, 'scripts', 'check-vsix.mjs'), vsix], { encoding: 'utf8' })
    expect(report).toMatch(/^ok {3}word-count: word-count\.wasm: \{"words":4\} .*\(loaded from .*word-count\.cwasm\)$/m)
    expect(report).toMatch(/^ok {3}greet: greet\.wasm: \{"greeting":"hello, its target".*\(loaded from .*greet\.cwasm\)$/m)
    expect(report).toMatch(/^ok {3}text-stats: \{"words":4,"lines":1,"longestWord":"checked"\} \(loaded from .*text-stats\.cwasm\)$/m)
  })
})
