'use strict'
// JavaScript-implemented guest imports, the Node side. The native runtime sends each call as an
// event (id, scope, module, name, args) on one function; the functions of that scope (an
// execution's or an instance's) answer, sync or async, through importDone(id, ...). A throw or a
// rejection is answered as what was thrown, so the guest gets its `err` (or the call fails with
// ERR_WASM_HOST); an answer that never comes ends at the execution's deadline, natively.

const { argValue } = require('./errors')
const { thrownMessage } = require('./checks')

// The functions of each scope in use, by scope id (an execution's or an instance's id).
const scopes = new Map()

/**
 * The functions a scope uses: those given at load, with `overrides` (given to one execution or
 * instance) in place of some of them. An override cannot add a function the load did not name.
 */
function bindImports(loaded, overrides) {
  if (overrides === undefined) return loaded
  // Null-prototype tables: a module or function named `__proto__` or `toString` is just a name.
  const table = Object.create(null)
  for (const [module, functions] of Object.entries(loaded || {})) table[module] = Object.assign(Object.create(null), functions)
  for (const [module, functions] of Object.entries(overrides)) {
    for (const [name, impl] of Object.entries(functions)) {
      if (!table[module] || !Object.hasOwn(table[module], name)) {
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

/**
 * Makes the handler of a runtime's import events; `native()` is its native runtime, or undefined
 * once gone. Every call is answered, whatever the function does: what it returns, throws or
 * resolves is read inside a guard (a `then` or `payload` getter may throw too), so nothing
 * escapes to the event loop and no guest waits for an answer that cannot come.
 */
function importHandler(native) {
  const answer = (id, threw, value, text, hasPayload) => {
    const target = native()
    if (target === undefined) return
    try {
      target.importDone(id, threw, value, text, hasPayload)
    } catch (e) {
      // A value that cannot cross (a cyclic or huge object, say) is answered as a throw naming why.
      target.importDone(id, true, undefined, `its answer cannot be passed to the guest: ${thrownMessage(e)}`, false)
    }
  }
  const fail = (id, thrown) => {
    let hasPayload = false
    let payload
    try {
      hasPayload = thrown !== null && typeof thrown === 'object' && 'payload' in thrown
      if (hasPayload) payload = thrown.payload
    } catch (e) {
      answer(id, true, undefined, `what it threw cannot be read: ${thrownMessage(e)}`, false)
      return
    }
    answer(id, true, payload, thrownMessage(thrown), hasPayload)
  }
  const settle = (id, result) => {
    let then
    try {
      then = result !== null && (typeof result === 'object' || typeof result === 'function') ? result.then : undefined
    } catch (e) {
      fail(id, e)
      return
    }
    if (typeof then !== 'function') {
      answer(id, false, result, undefined, false)
      return
    }
    // A thenable: its own `then` is called once, guarded, as Promise.resolve would.
    new Promise((resolve, reject) => then.call(result, resolve, reject)).then(
      (value) => answer(id, false, value, undefined, false),
      (e) => fail(id, e),
    )
  }
  return (id, scope, module, name, args) => {
    try {
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
      settle(id, result)
    } catch {
      // Only answering itself can land here (the runtime went away meanwhile): nothing waits.
    }
  }
}

module.exports = { scopes, bindImports, importHandler }
