// The addon this server runs guests with. Installed from npm it is a (peer) dependency; inside
// this repository it is the package one directory up.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

function loadAddon() {
  try {
    return require('wasm-probe-runtime')
  } catch (e) {
    if (e.code !== 'MODULE_NOT_FOUND' || !String(e.message).includes("'wasm-probe-runtime'")) throw e
    return require('../../index.js')
  }
}

export const { WasmRuntime, WasmError, defaultHttp } = loadAddon()
