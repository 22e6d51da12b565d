#!/usr/bin/env node
// Checks a packaged VSIX on the machine it is for:
//   node examples/vscode-extension/scripts/check-vsix.mjs path/to/wasm-probe-example-<target>.vsix
// unpacks it into a temporary directory (Node built-ins only, so it runs anywhere Node does, an
// Alpine container included), loads the extension's runner from the unpacked files, and runs each
// bundled guest. It fails unless every guest ran from its precompiled artifact: an artifact the
// target refuses would otherwise go unnoticed, hidden by the runner's fallback to the .wasm.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { inflateRawSync } from 'node:zlib'

/** Writes every file of the zip at `path` under `dir`. */
function unzip(path, dir) {
  const zip = readFileSync(path)
  let end = zip.length - 22
  while (end >= 0 && zip.readUInt32LE(end) !== 0x06054b50) end--
  if (end < 0) throw new Error(`${path} is not a zip file`)
  const count = zip.readUInt16LE(end + 10)
  let at = zip.readUInt32LE(end + 16)
  for (let i = 0; i < count; i++) {
    const method = zip.readUInt16LE(at + 10)
    const compressed = zip.readUInt32LE(at + 20)
    const nameLength = zip.readUInt16LE(at + 28)
    const local = zip.readUInt32LE(at + 42)
    const name = zip.toString('utf8', at + 46, at + 46 + nameLength)
    at += 46 + nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32)
    if (name.endsWith('/')) continue
    if (name.split('/').includes('..')) throw new Error(`${path}: entry ${name} leads out`)
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28)
    const raw = zip.subarray(start, start + compressed)
    const target = join(dir, ...name.split('/'))
    mkdirSync(dirname(target), { recursive: true })
    writeFileSync(target, method === 8 ? inflateRawSync(raw) : raw)
  }
}

const [vsix] = process.argv.slice(2)
if (!vsix) {
  console.error('usage: check-vsix.mjs <file.vsix>')
  process.exit(64)
}
const dir = mkdtempSync(join(tmpdir(), 'wasm-probe-vsix-check-'))
let failed = false
try {
  unzip(vsix, dir)
  const { ProbeRunner, neverCancelled: never } = createRequire(import.meta.url)(join(dir, 'extension', 'dist', 'probe-runner.js'))
  const logged = []
  const runner = new ProbeRunner({ log: (line) => logged.push(line) })
  const guests = runner.bundledGuests()
  if (guests.length === 0) throw new Error(`${vsix} has no bundled guests`)
  for (const guest of guests) {
    // A probe runs with JSON input (word-count reads its text, greet its name); the typed
    // text-stats guest is invoked with a string.
    const summary =
      guest === 'text-stats'
        ? await runner.summarize('checked on its target', never).then((s) => ({ ok: s.ok, headline: s.ok ? JSON.stringify(s.value) : s.headline }))
        : await runner.runBundled({ guest, input: { text: 'checked on its target', name: 'its target' }, token: never, onLog() {} })
    const { from } = await runner.loadBundled(guest)
    const precompiled = summary.ok && from.endsWith('.cwasm')
    console.log(`${precompiled ? 'ok  ' : 'FAIL'} ${guest}: ${summary.headline} (loaded from ${from})`)
    if (!precompiled) failed = true
  }
  for (const line of logged) console.log(`     ${line}`)
  await runner.close()
} catch (e) {
  console.error(`FAIL ${e.code ? `${e.code}: ` : ''}${e.message}`)
  failed = true
} finally {
  try {
    rmSync(dir, { recursive: true, force: true })
  } catch {
    // Windows keeps a loaded .node (and a mapped artifact) locked until the process exits.
  }
}
process.exitCode = failed ? 1 : 0
