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

  return Object.freeze({ log, events, json, clock, http })
})
