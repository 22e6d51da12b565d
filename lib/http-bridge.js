'use strict'
// Guest HTTP, the Node side. The native runtime has already checked the grant and the allowlist
// for a hop; here the request is performed (by the user's handler, or by fetch with redirects
// left to the runtime), bounded in time and size, and every failure becomes an answer.

const { describe } = require('./errors')

const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v)

// Headers fetch refuses or computes itself.
const DROPPED_REQUEST_HEADERS = new Set([
  'host', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'expect', 'content-length',
])

async function readCapped(response, max) {
  if (!response.body) return new Uint8Array(0)
  const reader = response.body.getReader()
  const chunks = []
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.byteLength
    if (total > max) {
      await reader.cancel().catch(() => {})
      return null
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks, total)
}

const TOO_LARGE = Object.freeze({ error: 'too-large' })

async function defaultFetch(request, { signal, maxResponseBytes }) {
  const headers = new Headers()
  for (const [k, v] of request.headers) if (!DROPPED_REQUEST_HEADERS.has(k.toLowerCase())) headers.append(k, v)
  const response = await fetch(request.url, { method: request.method, headers, body: request.body, redirect: 'manual', signal })
  const body = await readCapped(response, maxResponseBytes)
  if (body === null) return TOO_LARGE
  return { status: response.status, headers: [...response.headers], body }
}

function responseBytes(body) {
  if (body === undefined || body === null) return new Uint8Array(0)
  if (typeof body === 'string') return Buffer.from(body, 'utf8')
  if (body instanceof Uint8Array) return body
  if (body instanceof ArrayBuffer) return new Uint8Array(body)
  return undefined
}

function normalizeResponse(res, maxResponseBytes) {
  if (res === TOO_LARGE) return res
  if (res === null || typeof res !== 'object') return { error: 'failed', message: `the http handler resolved with ${describe(res)}, not a response` }
  if (!Number.isInteger(res.status) || res.status < 100 || res.status > 599) {
    return { error: 'failed', message: `the http handler answered status ${describe(res.status)}; expected an integer from 100 to 599` }
  }
  const raw = res.headers === undefined ? [] : Array.isArray(res.headers) ? res.headers : isPlainObject(res.headers) ? Object.entries(res.headers) : null
  if (raw === null) return { error: 'failed', message: 'the http handler answered headers that are neither [name, value] pairs nor an object' }
  const headers = raw.map(([k, v]) => [String(k), String(v)])
  const body = responseBytes(res.body)
  if (body === undefined) return { error: 'failed', message: `the http handler answered a body of ${describe(res.body)}; expected a Uint8Array or a string` }
  if (body.byteLength > maxResponseBytes) return TOO_LARGE
  return { status: res.status, headers, body }
}

/** Performs one request hop the native runtime has allowed; always resolves with an answer. */
function httpBridge(handler) {
  return async (req) => {
    // A controller and a timer cleared on completion: AbortSignal.timeout() would leave one live
    // timer per request behind until it expires.
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(new DOMException('the request timed out', 'TimeoutError')), Math.max(1, Math.ceil(req.timeoutMs)))
    const request = { method: req.method, url: req.url, headers: req.headers, body: req.body === null ? undefined : req.body }
    if (typeof req.label === 'string') request.label = req.label
    try {
      const res = await (handler || defaultFetch)(request, { signal: controller.signal, maxResponseBytes: req.maxResponseBytes })
      return normalizeResponse(res, req.maxResponseBytes)
    } catch (e) {
      if (controller.signal.aborted) return { error: 'timeout' }
      return { error: 'failed', message: `the http handler failed: ${e && e.message ? e.message : String(e)}` }
    } finally {
      clearTimeout(timer)
    }
  }
}

module.exports = { httpBridge, defaultFetch }
