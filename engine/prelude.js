// The JavaScript side of the engine's host API, evaluated once when the engine is built (before
// its snapshot). It gets the host's primitives (engine/quickjs-host.c), defines the `fetch`
// global, and returns the interfaces of `probe:runtime` - those of wit/probe.wit, as jco maps
// them, except that HTTP bodies are text (UTF-8) and host calls that wait return promises.
// Nothing here is reachable from a script except through `fetch` and `import ... from 'probe:runtime'`.
;(function (host) {
  'use strict'
  const LEVELS = ['trace', 'debug', 'info', 'warn', 'error']

  /** A `result`'s `err` as jco throws it: an Error with the payload. */
  function failure(message, payload) {
    const error = new Error(message)
    error.payload = payload
    return error
  }

  const log = Object.freeze({
    log(level, message) {
      const index = LEVELS.indexOf(level)
      if (index < 0) throw new TypeError(`log.log: level must be one of ${LEVELS.join(', ')}, got ${String(level)}`)
      host.log(index, String(message))
    },
  })

  const events = Object.freeze({
    emit(name, data) {
      host.emit(String(name), String(data))
    },
  })

  const json = Object.freeze({
    /** The JSON text at RFC 6901 `pointer` in `document`, or undefined. */
    get(document, pointer) {
      const found = host.jsonGet(String(document), String(pointer))
      if (found === null) throw failure('json.get: invalid document or pointer', 'invalid document or pointer')
      return found
    },
  })

  const clock = Object.freeze({
    nowMs: () => BigInt(host.nowMs()),
    monotonicNs: () => host.monotonicNs(),
  })

  /** One request through the host's HTTP capability (its allowlist applies): the response, or a
   *  rejection with `payload` { tag: 'denied' | 'timeout' | 'too-large' | 'failed', val? }. */
  function request(req) {
    const body = req.body === undefined || req.body === null ? undefined : String(req.body)
    const answer = JSON.parse(
      host.httpFetch(
        JSON.stringify({
          method: req.method === undefined ? 'GET' : String(req.method),
          url: String(req.url),
          headers: Array.isArray(req.headers) ? req.headers.map(([k, v]) => [String(k), String(v)]) : [],
          body,
          timeoutMs: req.timeoutMs === undefined ? undefined : Number(req.timeoutMs),
        }),
      ),
    )
    if (answer.ok) return answer.ok
    const { kind, message } = answer.err
    throw failure(`http.fetch: ${kind}${message ? `: ${message}` : ''}`, message ? { tag: kind, val: message } : { tag: kind })
  }

  const http = Object.freeze({
    fetch: (req) => new Promise((resolve) => resolve(request(req))),
  })

  /** The WHATWG fetch, the subset a probe needs: text bodies, headers as a plain record. */
  function fetch(input, init = {}) {
    return new Promise((resolve) => {
      const headers = init.headers ? Object.entries(init.headers) : []
      let response
      try {
        response = request({ method: init.method ?? 'GET', url: String(input), headers, body: init.body })
      } catch (e) {
        throw new TypeError(`fetch failed: ${e.message}`)
      }
      const byName = new Map(response.headers.map(([k, v]) => [k.toLowerCase(), v]))
      resolve(
        Object.freeze({
          status: response.status,
          ok: response.status >= 200 && response.status < 300,
          url: String(input),
          headers: Object.freeze({ get: (name) => byName.get(String(name).toLowerCase()) ?? null, has: (name) => byName.has(String(name).toLowerCase()) }),
          text: async () => response.body,
          json: async () => JSON.parse(response.body),
        }),
      )
    })
  }
  Object.defineProperty(globalThis, 'fetch', { value: fetch, writable: true, configurable: true })

  // UTF-8 only, as the WHATWG classes are for most uses; written here because QuickJS has none
  // and a polyfill library would be larger than the whole prelude.
  class TextEncoder {
    get encoding() {
      return 'utf-8'
    }
    encode(input = '') {
      const text = String(input)
      const out = []
      for (let i = 0; i < text.length; i++) {
        let c = text.codePointAt(i)
        if (c > 0xffff) i++
        else if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd // a lone surrogate
        if (c < 0x80) out.push(c)
        else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63))
        else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63))
        else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63))
      }
      return new Uint8Array(out)
    }
  }

  class TextDecoder {
    constructor(label = 'utf-8') {
      if (!/^utf-?8$/i.test(String(label))) throw new RangeError(`TextDecoder: only utf-8 is supported, not ${label}`)
    }
    get encoding() {
      return 'utf-8'
    }
    decode(input) {
      if (input === undefined) return ''
      const bytes = ArrayBuffer.isView(input) ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength) : new Uint8Array(input)
      let out = ''
      for (let i = 0; i < bytes.length; ) {
        const b = bytes[i]
        const need = b < 0x80 ? 0 : b >= 0xc2 && b < 0xe0 ? 1 : b >= 0xe0 && b < 0xf0 ? 2 : b >= 0xf0 && b < 0xf5 ? 3 : -1
        let c = need === 0 ? b : need === 1 ? b & 31 : need === 2 ? b & 15 : b & 7
        let ok = need >= 0 && i + need < bytes.length
        for (let k = 1; ok && k <= need; k++) {
          const next = bytes[i + k]
          if ((next & 0xc0) !== 0x80) ok = false
          else c = (c << 6) | (next & 63)
        }
        if (ok && ((need === 2 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) || (need === 3 && (c < 0x10000 || c > 0x10ffff)))) ok = false
        if (!ok) {
          out += '\ufffd' // replacement character
          i++
          continue
        }
        out += String.fromCodePoint(c)
        i += need + 1
      }
      return out
    }
  }

  const crypto = Object.freeze({
    /** Fills an integer typed array with the host's randomness. */
    getRandomValues(array) {
      if (!ArrayBuffer.isView(array) || array instanceof Float32Array || array instanceof Float64Array || array instanceof DataView) {
        throw new TypeError('crypto.getRandomValues: the argument must be an integer typed array')
      }
      if (array.byteLength > 65536) throw new RangeError(`crypto.getRandomValues: ${array.byteLength} bytes is more than 65536`)
      host.randomFill(new Uint8Array(array.buffer, array.byteOffset, array.byteLength))
      return array
    },
  })

  for (const [name, value] of Object.entries({ TextEncoder, TextDecoder, crypto })) {
    Object.defineProperty(globalThis, name, { value, writable: true, configurable: true })
  }

  return Object.freeze({ log, events, json, clock, http })
})
