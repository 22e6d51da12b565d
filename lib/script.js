'use strict'
// Script modules (`loadScript`, and `loadModule` of a .js / .mjs path): JavaScript source run by
// the built-in engine, QuickJS-ng compiled to WebAssembly (scripts/build-engine.mjs builds it into
// build/engine/). The runtime loads the engine like any guest — compiled once, cached — and
// keeps each script's source with its module.

const { existsSync, promises: fs } = require('node:fs')
const { basename, join } = require('node:path')
const { WasmError, argType, argValue } = require('./errors')

/** The engine the scripts run on (contract §5a). */
const scriptEngine = Object.freeze({ name: 'quickjs-ng', version: '0.16.2' })

const ENGINE_PATH = join(__dirname, '..', 'build', 'engine', 'quickjs-ng.wasm')

/** Larger script files are refused before reading (the limit of every guest file). */
const MAX_SCRIPT_BYTES = 256 << 20

/** The engine's file; a WasmError when it was not built. */
function enginePath() {
  if (!existsSync(ENGINE_PATH)) {
    throw new WasmError(
      `the built-in JavaScript engine is not built: ${ENGINE_PATH} is missing (npm run setup builds it)`,
      'ERR_WASM_HOST',
    )
  }
  return ENGINE_PATH
}

/** A path `loadModule` loads as a script. */
const isScriptPath = (source) => typeof source === 'string' && /\.m?js$/i.test(source)

/** The source of the script file at `path`: a regular file, read whole, bounded in size. */
async function readScript(path) {
  let stat
  try {
    stat = await fs.stat(path)
  } catch (e) {
    throw new WasmError(`cannot read ${path}: ${e.message}`, 'ERR_WASM_INVALID_MODULE')
  }
  if (!stat.isFile()) throw new WasmError(`cannot read ${path}: not a regular file`, 'ERR_WASM_INVALID_MODULE')
  if (stat.size > MAX_SCRIPT_BYTES) {
    throw new WasmError(`cannot read ${path}: ${stat.size} bytes, above the ${MAX_SCRIPT_BYTES} a script may have`, 'ERR_WASM_INVALID_MODULE')
  }
  return { source: await fs.readFile(path, 'utf8'), filename: basename(path) }
}

/** Checks `loadScript`'s source argument. */
function checkScriptSource(source) {
  if (typeof source !== 'string') throw argType('source', 'a string of JavaScript', source)
  if (source.length > MAX_SCRIPT_BYTES) throw argValue('source', `is longer than ${MAX_SCRIPT_BYTES} characters`)
  return source
}

module.exports = { scriptEngine, enginePath, isScriptPath, readScript, checkScriptSource }
