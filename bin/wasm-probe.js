#!/usr/bin/env node
'use strict'
// wasm-probe: run a WebAssembly probe outside VS Code, or look inside one.
//
//   wasm-probe run <file> [--input JSON] [--export NAME] [--allow-http ORIGIN]...
//                         [--preopen HOST:GUEST[:ro]]... [--env KEY=VALUE]... [--arg ARG]...
//                         [--timeout MS] [--memory MIB] [--fuel N] [--json]
//   wasm-probe inspect <file> [--json]
//   wasm-probe compile <file.wasm|file.wat> [-o OUT] [--target TRIPLE] [--json]
//   wasm-probe types <file.wasm> [-o OUT.d.ts]
//
// `run` and `inspect` take a .wasm, a .wat, a .js / .mjs script, or a precompiled artifact (`.cwasm`, made by
// `compile`: native code — load only artifacts you produced yourself).
//
// Exit codes: 0 the guest succeeded; 1 the guest reported failure; 2 the runtime stopped the guest
// or could not run it (the error code is printed); 64 the command line is wrong.

const { closeSync, openSync, readSync, renameSync, rmSync, writeFileSync } = require('node:fs')
const { basename, extname, resolve } = require('node:path')
const { parseArgs } = require('node:util')
const { WasmRuntime } = require('../index.js')

const USAGE = `usage:
  wasm-probe run <file.wasm|file.wat|file.cwasm|file.js> [--input JSON] [--export NAME] [--allow-http ORIGIN]...
                 [--preopen HOST:GUEST[:ro]]... [--env KEY=VALUE]... [--arg ARG]...
                 [--timeout MS] [--memory MIB] [--fuel N] [--json]
  wasm-probe inspect <file.wasm|file.wat|file.cwasm|file.js> [--json]
  wasm-probe compile <file.wasm|file.wat> [-o OUT] [--target TRIPLE] [--json]
                 (OUT defaults to the input's name with .cwasm; TRIPLE to this machine's,
                  e.g. x86_64-unknown-linux-gnu, aarch64-apple-darwin, x86_64-pc-windows-msvc)
  wasm-probe types <file.wasm> [-o OUT.d.ts]
                 (TypeScript declarations of a component's exports and imports, jco's conventions;
                  to standard output without -o)`

class UsageError extends Error {}

function number(name, text, { min = 0 } = {}) {
  const n = Number(text)
  if (text === undefined) return undefined
  if (!Number.isFinite(n) || n < min) throw new UsageError(`--${name} must be a number${min ? ` of at least ${min}` : ''}, got ${JSON.stringify(text)}`)
  return n
}

function runOptions(values) {
  const limits = {}
  if (values.timeout !== undefined) limits.timeoutMs = number('timeout', values.timeout, { min: 1 })
  if (values.memory !== undefined) limits.memoryBytes = Math.round(number('memory', values.memory, { min: 0.0625 }) * 1024 * 1024)
  if (values.fuel !== undefined) limits.fuel = number('fuel', values.fuel, { min: 1 })
  const capabilities = {}
  if (values['allow-http'].length > 0) capabilities.http = { allow: values['allow-http'] }
  if (values.preopen.length > 0) {
    capabilities.fs = {
      preopens: values.preopen.map((spec) => {
        const parts = spec.split(':')
        const readonly = parts.length > 2 && parts.at(-1) === 'ro'
        if (readonly) parts.pop()
        if (parts.length !== 2 || !parts[0] || !parts[1]) throw new UsageError(`--preopen must be HOST:GUEST or HOST:GUEST:ro, got ${JSON.stringify(spec)}`)
        return { hostPath: parts[0], guestPath: parts[1], readonly }
      }),
    }
  }
  if (values.env.length > 0) {
    capabilities.env = {}
    for (const pair of values.env) {
      const at = pair.indexOf('=')
      if (at <= 0) throw new UsageError(`--env must be KEY=VALUE, got ${JSON.stringify(pair)}`)
      capabilities.env[pair.slice(0, at)] = pair.slice(at + 1)
    }
  }
  if (values.arg.length > 0) capabilities.args = values.arg
  return { limits, capabilities }
}

const CAPABILITY_IMPORTS = [
  ['http', /^probe::http_fetch$|^probe:runtime\/http@|^wasi:http\//],
  ['filesystem', /^wasi_snapshot_preview1::(path_|fd_readdir)|^wasi:filesystem\//],
  ['env', /^wasi_snapshot_preview1::environ_|^wasi:cli\/environment@/],
  ['args', /^wasi_snapshot_preview1::args_|^wasi:cli\/environment@/],
  ['logs', /^probe::log$|^probe:runtime\/log@|^wasi_snapshot_preview1::fd_write$|^wasi:cli\/std(out|err)@/],
  ['json', /^probe::json_get$|^probe:runtime\/json@/],
  ['clock', /^probe::(now_ms|monotonic_ns)$|^probe:runtime\/clock@|^wasi_snapshot_preview1::clock_|^wasi:clocks\//],
  ['random', /^wasi_snapshot_preview1::random_get$|^wasi:random\//],
]

/** Whether `file` is a precompiled artifact rather than wasm or WAT: named `.cwasm`, or an ELF
 *  image (what Wasmtime's serialised code is) whatever its name. */
function isArtifact(file) {
  if (extname(file).toLowerCase() === '.cwasm') return true
  let fd
  try {
    fd = openSync(file, 'r')
    const head = Buffer.alloc(4)
    return readSync(fd, head, 0, 4, 0) === 4 && head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))
  } catch {
    return false // loadModule reports the unreadable file
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

/** Loads a guest from a file: an artifact with loadPrecompiled, wasm or WAT with loadModule. The
 *  path is made absolute so that it is never taken for WAT text. */
async function load(runtime, file) {
  const path = resolve(file)
  const name = basename(file)
  return isArtifact(path) ? runtime.loadPrecompiled(path, { name }) : runtime.loadModule(path, { name })
}

/** The Rust target triple of this machine, the default of `precompile`; undefined off the
 *  platforms the addon is built for. */
function hostTriple() {
  const arch = { x64: 'x86_64', arm64: 'aarch64' }[process.arch]
  if (!arch) return undefined
  if (process.platform === 'linux') return `${arch}-unknown-linux-${process.report.getReport().header.glibcVersionRuntime ? 'gnu' : 'musl'}`
  if (process.platform === 'darwin') return `${arch}-apple-darwin`
  if (process.platform === 'win32') return `${arch}-pc-windows-msvc`
  return undefined
}

async function compile(file, values) {
  const input = resolve(file)
  const out = resolve(values.output ?? (/\.(wasm|wat)$/i.test(file) ? file.replace(/\.(wasm|wat)$/i, '') : file) + '.cwasm')
  if (out === input) throw new UsageError(`-o must name another file than the input (${file})`)
  const runtime = new WasmRuntime()
  try {
    let artifact
    try {
      artifact = await runtime.precompile(input, values.target === undefined ? undefined : { target: values.target })
    } catch (e) {
      // An unknown or unsupported triple is a wrong command line, not a failure of the guest.
      if (e.code === 'ERR_INVALID_ARG_VALUE' && /target/.test(e.message)) throw new UsageError(`--target: ${e.code}: ${e.message}`)
      throw e
    }
    // A temporary file renamed into place: a reader never sees half an artifact.
    writeAtomically(out, artifact)
    const target = values.target ?? hostTriple() ?? 'this machine'
    if (values.json) console.log(JSON.stringify({ path: out, size: artifact.length, target }))
    else console.log(`wrote ${out} (${artifact.length} bytes, target ${target})`)
    return 0
  } finally {
    await runtime.close()
  }
}

/** Writes `text` to `out` through a temporary file renamed into place. */
function writeAtomically(out, text) {
  const tmp = `${out}.tmp-${process.pid}`
  try {
    writeFileSync(tmp, text)
    renameSync(tmp, out)
  } catch (e) {
    rmSync(tmp, { force: true })
    throw Object.assign(new Error(`cannot write ${out}: ${e.message}`), { code: e.code })
  }
}

async function types(file, values) {
  const { typescriptDeclarations } = require('../binding.js')
  let text
  try {
    text = typescriptDeclarations(null, resolve(file), basename(file))
  } catch (e) {
    console.error(`ERR_INVALID_ARG_VALUE: ${e.message}`)
    return 2
  }
  if (values.output === undefined) {
    process.stdout.write(text)
  } else {
    writeAtomically(resolve(values.output), text)
    console.error(`wrote ${values.output}`)
  }
  return 0
}

async function inspect(file, values) {
  const runtime = new WasmRuntime()
  try {
    const m = await load(runtime, file)
    const capabilities = CAPABILITY_IMPORTS.filter(([, re]) => m.imports.some((i) => re.test(i))).map(([name]) => name)
    const precompiled = isArtifact(resolve(file))
    const facts = { name: m.name, kind: m.kind, size: m.size, hash: m.hash, precompiled, exports: m.exports, imports: m.imports, capabilities }
    if (m.tier !== undefined) facts.tier = m.tier
    if (values.json) {
      console.log(JSON.stringify(facts, null, 2))
    } else {
      console.log(`${m.name}: ${m.kind}${precompiled ? ' (precompiled)' : ''}, ${m.size} bytes, sha256 ${m.hash}`)
      console.log(`exports: ${m.exports.join(', ') || '(none)'}`)
      console.log(`imports: ${m.imports.length === 0 ? '(none)' : ''}`)
      for (const i of m.imports) console.log(`  ${i}`)
      console.log(`capabilities it could use: ${capabilities.join(', ') || '(none)'}` + (capabilities.includes('http') || capabilities.includes('filesystem') ? ' (http and filesystem need a grant)' : ''))
    }
    return 0
  } finally {
    await runtime.close()
  }
}

async function run(file, values) {
  let input = null
  if (values.input !== undefined) {
    try {
      input = JSON.parse(values.input)
    } catch (e) {
      throw new UsageError(`--input must be JSON: ${e.message}`)
    }
  }
  const { limits, capabilities } = runOptions(values)
  const runtime = new WasmRuntime()
  try {
    const m = await load(runtime, file)
    const onLog = values.json ? undefined : (r) => console.error(`[${r.source}/${r.level}] ${r.message}`)
    let result
    try {
      result = await runtime.executeProbe(m, input, { export: values.export, limits, capabilities, onLog })
    } catch (e) {
      if (values.json) console.log(JSON.stringify({ success: false, code: e.code, message: e.message, metrics: e.metrics, logs: e.logs }))
      else console.error(`${e.code}: ${e.message}`)
      return 2
    }
    if (values.json) {
      console.log(JSON.stringify(result))
    } else {
      if (result.success) console.log(result.output === undefined ? '(no output)' : JSON.stringify(result.output, null, 2))
      else console.log(`guest failure: ${result.error}`)
      const x = result.metrics
      console.error(
        `latency ${result.latencyMs.toFixed(2)} ms, instantiate ${x.instantiateUs.toFixed(0)} µs, run ${x.runUs.toFixed(0)} µs, ` +
          `fuel ${x.fuelConsumed}, memory peak ${x.memoryPeakBytes} bytes, host calls ${x.hostCalls}`,
      )
    }
    return result.success ? 0 : 1
  } finally {
    await runtime.close()
  }
}

/** The options each command takes (besides --help). */
const COMMAND_OPTIONS = {
  run: ['input', 'export', 'allow-http', 'preopen', 'env', 'arg', 'timeout', 'memory', 'fuel', 'json'],
  inspect: ['json'],
  compile: ['output', 'target', 'json'],
  types: ['output'],
}
const COMMANDS = { run, inspect, compile, types }

async function main(argv) {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      tokens: true,
      options: {
        output: { type: 'string', short: 'o' },
        target: { type: 'string' },
        input: { type: 'string' },
        export: { type: 'string' },
        'allow-http': { type: 'string', multiple: true, default: [] },
        preopen: { type: 'string', multiple: true, default: [] },
        env: { type: 'string', multiple: true, default: [] },
        arg: { type: 'string', multiple: true, default: [] },
        timeout: { type: 'string' },
        memory: { type: 'string' },
        fuel: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    })
  } catch (e) {
    throw new UsageError(e.message)
  }
  const { values, positionals, tokens } = parsed
  if (values.help) {
    console.log(USAGE)
    return 0
  }
  const [command, file, ...extra] = positionals
  if (!file || extra.length > 0 || !Object.hasOwn(COMMANDS, command)) throw new UsageError(USAGE)
  for (const token of tokens) {
    if (token.kind === 'option' && !COMMAND_OPTIONS[command].includes(token.name)) {
      throw new UsageError(`${token.rawName} is not an option of ${command}\n${USAGE}`)
    }
  }
  return COMMANDS[command](file, values)
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (e) => {
    if (e instanceof UsageError) {
      console.error(e.message)
      process.exitCode = 64
    } else {
      console.error(`${e.code || 'error'}: ${e.message}`)
      process.exitCode = 2
    }
  },
)
