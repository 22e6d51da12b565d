// `wasm-probe types`: TypeScript declarations for a component's exports and imports (jco's
// conventions), generated for the typed test component and type-checked with tsc in a small
// consumer — which must compile, and must not when it passes a wrong value.
import { execFile } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { guest, root, watGuest } from './helpers.mjs'

const run = (file, args) =>
  new Promise((resolve) => {
    execFile(process.execPath, [file, ...args], { encoding: 'utf8', timeout: 120_000, cwd: root }, (error, stdout, stderr) => {
      resolve({ code: error ? error.code : 0, stdout, stderr })
    })
  })
const wasmProbe = (...args) => run(join(root, 'bin', 'wasm-probe.js'), args)
const tsc = (...args) => run(join(root, 'node_modules', 'typescript', 'bin', 'tsc'), args)

const dir = join(root, 'build', 'types-test')
const CONSUMER = `import { WasmRuntime } from '../../index'
import type { Exports, Imports, Invoke, TestTypedTypes } from './typed'

const imports: Imports = {
  'test:typed/editor@0.1.0': {
    'get-line': (uri, line) => \`\${uri}:\${line}\`,
    'show-message': () => {},
    'read-document': async (uri) => \`text of \${uri}\`,
    'offset-at': (pos) => pos.line * 100 + pos.character,
  },
}

export async function main(): Promise<void> {
  const runtime = new WasmRuntime()
  const module = await runtime.loadModule('typed.wasm', { imports })
  const invoke: Invoke = (name, args) => runtime.invoke(module, name, args) as any
  const moved: TestTypedTypes.Point[] = await invoke('test:typed/api@0.1.0#translate', [[{ x: 1, y: 2 }], 3])
  const sum: bigint = await invoke('test:typed/api@0.1.0#add', [1n, 2n])
  const shape: TestTypedTypes.Shape = { tag: 'rect', val: { x: 1, y: 1 } }
  const area: number = await invoke('test:typed/api@0.1.0#area', [shape])
  const picked: string = await invoke('test:typed/api@0.1.0#pick', ['blue-ish', { execAll: true }])
  const position: TestTypedTypes.Position = await invoke('test:typed/api@0.1.0#parse-position', ['1:2'])
  const hello: ReturnType<Exports['hello']> = await invoke('hello', ['you'])
  console.log(moved, sum, area, picked, position, hello)
}
`

beforeAll(() => {
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('wasm-probe types', () => {
  test('writes declarations a consumer type-checks against', async () => {
    const out = join(dir, 'typed.d.ts')
    const made = await wasmProbe('types', guest('typed/typed.wasm'), '-o', out)
    expect(made.stderr).toContain('wrote')
    expect(made.code).toBe(0)
    const text = readFileSync(out, 'utf8')
    expect(text).toContain('export namespace TestTypedTypes {')
    expect(text).toContain("export type Color = 'red' | 'green' | 'blue-ish'")
    expect(text).toContain('export interface Perms { read?: boolean; write?: boolean; execAll?: boolean }')
    expect(text).toContain("'test:typed/api@0.1.0#add': (a: bigint, b: bigint) => bigint")
    expect(text).toContain('bytes: Uint8Array')
    expect(text).toContain("nested?: { tag: 'none' } | { tag: 'some'; val: number | undefined }")
    expect(text).toContain("'read-document': (uri: string) => string | Promise<string>")
    expect(text).not.toContain("'test:typed/types@0.1.0': {")
    writeFileSync(join(dir, 'consumer.ts'), CONSUMER)
    const flags = ['--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node']
    const ok = await tsc(...flags, join(dir, 'consumer.ts'))
    expect(ok.stdout + ok.stderr).toBe('')
    expect(ok.code).toBe(0)
    // The declarations do constrain: a string where a bigint is due does not compile.
    writeFileSync(join(dir, 'wrong.ts'), CONSUMER.replace('[1n, 2n]', "['1', 2n]"))
    const wrong = await tsc(...flags, join(dir, 'wrong.ts'))
    expect(wrong.code).not.toBe(0)
    expect(wrong.stdout).toContain("Type 'string' is not assignable to type 'bigint'")
  })

  test('to standard output without -o; a core module or a missing file is refused', async () => {
    const printed = await wasmProbe('types', guest('typed/typed.wasm'))
    expect(printed.code).toBe(0)
    expect(printed.stdout).toContain('export interface Exports {')
    const core = await wasmProbe('types', watGuest('echo.wat'))
    expect(core.code).toBe(2)
    expect(core.stderr).toContain('is not a WebAssembly component binary')
    const wasm = await wasmProbe('types', guest('c/greet.wasm'))
    expect(wasm.code).toBe(2)
    expect(wasm.stderr).toContain('greet.wasm is a core module; types describes components')
    const missing = await wasmProbe('types', join(dir, 'nope.wasm'))
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('cannot read')
    const extra = await wasmProbe('types', guest('typed/typed.wasm'), '--json')
    expect(extra.code).toBe(64)
  })
})
