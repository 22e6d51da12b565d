// Every answer that is not a result has the body { error: { code, message, ... } }. Runtime
// errors keep their WasmError code; the server's own codes are the ones below.

/** A request the server refuses before anything runs. */
export class RequestError extends Error {
  constructor(status, code, message, headers = {}) {
    super(message)
    this.status = status
    this.code = code
    this.headers = headers
  }
}

export const badRequest = (message) => new RequestError(400, 'ERR_BAD_REQUEST', message)
export const notFound = (message) => new RequestError(404, 'ERR_NOT_FOUND', message)
export const forbidden = (message) => new RequestError(403, 'ERR_FORBIDDEN', message)
export const unauthorized = (message) => new RequestError(401, 'ERR_UNAUTHORIZED', message, { 'www-authenticate': 'Bearer' })
export const draining = () =>
  new RequestError(503, 'ERR_DRAINING', 'the server is shutting down; try another replica', { 'retry-after': '1' })

// Seconds a client is told to wait when the runtime is at capacity.
const BUSY_RETRY_AFTER = '1'

// Fastify's own errors that reach the client: the status stays, the code and message are ours.
const FRAMEWORK = {
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'ERR_BODY_TOO_LARGE', (limit) => `the request body is over ${limit} bytes`],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'ERR_UNSUPPORTED_MEDIA_TYPE', () => 'the body must be JSON (content-type: application/json)'],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'ERR_BAD_REQUEST', () => 'the body is not valid JSON'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'ERR_BAD_REQUEST', () => 'the body is empty; it must be a JSON object'],
}

/** The status, headers and body for anything a handler threw. */
export function answerFor(error, bodyLimit) {
  if (error instanceof RequestError) {
    return { status: error.status, headers: error.headers, body: { error: { code: error.code, message: error.message } } }
  }
  const framework = FRAMEWORK[error.code]
  if (framework) {
    const [status, code, message] = framework
    return { status, headers: {}, body: { error: { code, message: message(bodyLimit) } } }
  }
  // A schema mismatch (see schemas.js) and any other request Fastify refuses: the caller's
  // mistake, said in the error's own words.
  if (error.validation || (error.statusCode >= 400 && error.statusCode < 500 && !String(error.code).startsWith('ERR_'))) {
    return { status: error.statusCode ?? 400, headers: {}, body: { error: { code: 'ERR_BAD_REQUEST', message: error.message } } }
  }
  if (typeof error.code === 'string' && error.code.startsWith('ERR_WASM_')) {
    const status = error.code === 'ERR_WASM_BUSY' ? 503 : 422
    const headers = error.code === 'ERR_WASM_BUSY' ? { 'retry-after': BUSY_RETRY_AFTER } : {}
    return { status, headers, body: { error: wasmErrorBody(error) } }
  }
  if (error.code === 'ERR_INVALID_ARG_VALUE' || error.code === 'ERR_INVALID_ARG_TYPE') {
    // A value that does not fit the function's WIT types: the caller's mistake.
    return { status: 400, headers: {}, body: { error: { code: error.code, message: error.message } } }
  }
  return { status: 500, headers: {}, body: { error: { code: 'ERR_INTERNAL', message: 'the server failed to handle this request' } } }
}

/** What a runtime error says about itself: its code and message, and what it carries. */
export function wasmErrorBody(error) {
  const body = { code: error.code, message: error.message }
  if (error.trap) body.trap = error.trap
  if (error.payload !== undefined) body.payload = error.payload
  if (error.metrics) body.metrics = error.metrics
  if (error.logs && error.logs.length > 0) body.logs = error.logs
  return body
}
