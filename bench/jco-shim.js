// The probe:runtime/* imports for the jco peer in bench/loading.mjs (copied next to the
// transpiled component as shim.js; jco maps `probe:runtime/<iface>` to this module's export
// `<iface>`). Trivial implementations: enough for the greet guest, nothing is granted.

export const log = {
  log(_level, _message) {},
}

export const json = {
  /** RFC 6901 pointer into a JSON document: the value as JSON text, undefined when absent. */
  get(document, pointer) {
    let value
    try {
      value = JSON.parse(document)
    } catch (e) {
      throw `not a JSON document: ${e.message}`
    }
    if (pointer !== '' && !pointer.startsWith('/')) throw `not a JSON pointer: ${pointer}`
    for (const raw of pointer === '' ? [] : pointer.slice(1).split('/')) {
      const key = raw.replace(/~1/g, '/').replace(/~0/g, '~')
      if (value === null || typeof value !== 'object' || !Object.prototype.hasOwnProperty.call(value, key)) return undefined
      value = value[key]
    }
    return JSON.stringify(value)
  },
}

export const clock = {
  nowMs: () => BigInt(Date.now()),
  monotonicNs: () => process.hrtime.bigint(),
}

export const http = {
  fetch(_request) {
    throw { tag: 'denied', val: 'no HTTP in the bench shim' }
  },
}

export const events = {
  emit(_name, _data) {},
}
