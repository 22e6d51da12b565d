'use strict'
// JavaScript-implemented guest imports, the Node side. The native runtime sends each call as an
// event (id, scope, module, name, args) on one function; the functions of that scope (an
// execution's or an instance's) answer, sync or async, through importDone(id, ...). A throw or a
// rejection is answered as what was thrown, so the guest gets its `err` (or the call fails with
// ERR_WASM_HOST); an answer that never comes ends at the execution's deadline, natively.

const { argValue } = require('./errors')

// The functions of each scope in use, by scope id (an execution's or an instance's id).
const scopes = new Map()

/**
 * The functions a scope uses: those given at load, with `overrides` (given to one execution or
 * instance) in place of some of them. An override cannot add a function the load did not name.
 */
function bindImports(loaded, overrides) {
  if (overrides === undefined) return loaded
  const table = {}
  for (const [module, functions] of Object.entries(loaded || {})) table[module] = { ...functions }
  for (const [module, functions] of Object.entries(overrides)) {
    for (const [name, impl] of Object.entries(functions)) {
      if (!table[module] || !(name in table[module])) {
        throw argValue(
          `options.imports['${module}']['${name}']`,
          'was not given to loadModule; an execution or instance can only replace the functions its module was loaded with',
        )
      }
      table[module][name] = impl
    }
  }
  return table
}

function message(thrown) {
  if (thrown instanceof Error) return thrown.message
  try {
    return String(thrown)
  } catch {
    return 'a value that cannot be shown'
  }
}

/** Makes the handler of a runtime's import events; `native()` is its native runtime, or undefined once gone. */
function importHandler(native) {
  const answer = (id, threw, value, text, hasPayload) => {
    const target = native()
    if (target === undefined) return
    try {
      target.importDone(id, threw, value, text, hasPayload)
    } catch (e) {
      // A value that cannot cross (a cyclic object, say) is answered as a throw naming why.
      target.importDone(id, true, undefined, `its answer cannot be passed to the guest: ${message(e)}`, false)
    }
  }
  const fail = (id, thrown) => {
    const hasPayload = thrown !== null && typeof thrown === 'object' && 'payload' in thrown
    answer(id, true, hasPayload ? thrown.payload : undefined, message(thrown), hasPayload)
  }
  return (id, scope, module, name, args) => {
    const table = scopes.get(scope)
    const impl = table && table[module] && table[module][name]
    if (typeof impl !== 'function') {
      answer(id, true, undefined, `no function is bound to ${module}#${name} for this execution`, false)
      return
    }
    let result
    try {
      result = impl(...args)
    } catch (e) {
      fail(id, e)
      return
    }
    if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
      Promise.resolve(result).then(
        (value) => answer(id, false, value, undefined, false),
        (e) => fail(id, e),
      )
    } else {
      answer(id, false, result, undefined, false)
    }
  }
}

module.exports = { scopes, bindImports, importHandler }
