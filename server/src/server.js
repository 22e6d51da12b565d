// The server: one runtime, its modules and instances, and the Fastify app that serves them.
import fastifyWebsocket from '@fastify/websocket'
import Fastify, { LogController } from 'fastify'
import { finished } from 'node:stream'
import { accessOf } from './access.js'
import { answerFor, draining } from './errors.js'
import { Instances } from './instances.js'
import { createMetrics } from './metrics.js'
import { loadModules } from './modules.js'
import { executeRoutes } from './routes/execute.js'
import { instanceRoutes } from './routes/instances.js'
import { serviceRoutes } from './routes/service.js'
import { Runs } from './runs.js'
import { WasmRuntime, defaultHttp } from './runtime.js'
import { describeSchemaError } from './schemas.js'

export const BODY_LIMIT = 8 * 1024 * 1024

// Answered while draining, and without a token: what a load balancer and a scraper ask.
const OPEN_ROUTES = new Set(['/health'])
const DRAIN_EXEMPT = new Set(['/health', '/metrics'])

/** Who a runtime label (`tenant:module`, see labelOf) names. */
function whoOf(label) {
  const at = label ? label.indexOf(':') : -1
  return at < 0 ? { label } : { tenant: label.slice(0, at), module: label.slice(at + 1) }
}

/** A guest's HTTP use, logged with who made it, as method and origin only (never the path, query or headers). */
function loggedHttp(log) {
  return (request, options) => {
    let origin
    try {
      origin = new URL(request.url).origin
    } catch {
      origin = 'invalid-url'
    }
    log.info({ ...whoOf(request.label), capability: 'http', method: request.method, origin }, 'guest capability use')
    return defaultHttp(request, options)
  }
}

/** Guest log records, one JSON line each, with their tenant and module. */
function loggedGuest(log) {
  return (record) => {
    log.info({ ...whoOf(record.label), guest: { level: record.level, source: record.source, message: record.message, timestamp: record.timestamp } }, 'guest log')
  }
}

// How much of a too-large upload is read and dropped before the 413 goes out, and for how long.
const DISCARD_BYTES = 4 * BODY_LIMIT
const DISCARD_MS = 2000

/**
 * Reads and drops what is left of a refused upload (bounded), so that the 413 is sent after the
 * client finished sending: a connection closed while the client still writes is reset, and the
 * client then never sees the answer.
 */
function discardUpload(raw) {
  if (raw.complete || raw.destroyed) return undefined
  return new Promise((resolve) => {
    let seen = 0
    const done = () => {
      clearTimeout(timer)
      raw.off('data', onData)
      stopWatching()
      resolve()
    }
    const onData = (chunk) => {
      seen += chunk.length
      if (seen > DISCARD_BYTES) done()
    }
    const timer = setTimeout(done, DISCARD_MS)
    // stream.finished: the end, a close or an error, whichever comes first.
    const stopWatching = finished(raw, done)
    raw.on('data', onData)
  })
}

export async function createServer(config, log) {
  const runtime = new WasmRuntime({
    workerThreads: config.workerThreads,
    cacheDir: config.cacheDir,
    maxInstances: config.maxInstances,
    maxQueued: config.maxQueued,
    http: loggedHttp(log),
    log: loggedGuest(log),
  })
  let modules
  try {
    modules = await loadModules(runtime, config.modulesDir, config.policy, log)
  } catch (e) {
    await runtime.close()
    throw e
  }
  const instances = new Instances(runtime)
  const metrics = createMetrics(runtime, instances)
  const runs = new Runs(metrics)
  const state = { draining: false }

  const app = Fastify({
    loggerInstance: log,
    // request.log is the server's logger itself, not a child per request (pino.child costs
    // microseconds a short request does not have); the request line carries reqId itself.
    childLoggerFactory: (logger) => logger,
    // One line per request is written by the onResponse hook below, with tenant, module and outcome.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    // Ajv as a strict checker: no coercion of "5" to 5, no silent removal of unknown fields.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    schemaErrorFormatter: describeSchemaError,
    // The server answers 503 itself while draining; the listener closes only once requests finished.
    return503OnClosing: true,
  })
  await app.register(fastifyWebsocket, { options: { maxPayload: BODY_LIMIT } })
  // Bodies are JSON only: anything else is 415. An empty body is no body (a DELETE or a call
  // sent with a JSON content type and nothing in it), checked by the route's schema like one left out.
  app.removeContentTypeParser('text/plain')
  const json = app.getDefaultJsonParser('error', 'ignore')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) =>
    body === '' ? done(null, undefined) : json(request, body, done),
  )

  app.decorateRequest('access', null)
  app.decorateRequest('probe', null)
  app.decorateRequest('instanceRecord', null)
  app.decorateRequest('logged', false)
  /** `tenant:module`: the label of the guest's log records. */
  app.decorateRequest('labelOf', function (module) {
    return `${this.access.tenant}:${module}`
  })
  /** How runs.run sees this request: its module and tenant, cancelled when the client goes away. */
  app.decorateRequest('runOf', function (module, reply) {
    const request = this
    let gone = false
    return {
      module,
      tenant: this.access.tenant,
      watch(stop) {
        const closed = () => {
          if (reply.raw.writableEnded) return
          gone = true
          stop()
        }
        reply.raw.once('close', closed)
        return () => reply.raw.off('close', closed)
      },
      onSettled(code) {
        request.probe.code = code
        if (gone) logRequest(request, reply, 499)
      },
    }
  })

  function logRequest(request, reply, status) {
    if (request.logged) return
    request.logged = true
    const probe = request.probe ?? {}
    request.log.info(
      {
        reqId: request.id,
        tenant: request.access?.tenant,
        method: request.method,
        route: request.routeOptions.url,
        ...probe,
        status,
        durationMs: Math.round(reply.elapsedTime * 1000) / 1000,
      },
      'request',
    )
  }

  app.addHook('onRequest', async (request) => {
    const route = request.routeOptions.url
    if (state.draining && !DRAIN_EXEMPT.has(route)) throw draining()
    if (!OPEN_ROUTES.has(route)) request.access = accessOf(config.tokens, request.headers.authorization)
  })
  app.addHook('onResponse', async (request, reply) => logRequest(request, reply, reply.statusCode))

  app.setErrorHandler(async (error, request, reply) => {
    const answer = answerFor(error, BODY_LIMIT)
    if (answer.status === 413) await discardUpload(request.raw)
    if (answer.status >= 500 && answer.body.error.code === 'ERR_INTERNAL') request.log.error({ err: error }, 'request failed')
    if (request.probe && !request.probe.code) request.probe.code = answer.body.error.code
    return reply.code(answer.status).headers(answer.headers).send(answer.body)
  })
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: { code: 'ERR_NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` } }),
  )

  const context = { runtime, modules, instances, runs, metrics, state }
  serviceRoutes(app, context)
  executeRoutes(app, context)
  instanceRoutes(app, context)

  return {
    app,
    runtime,
    /** /health turns 503 and new requests are refused; running ones get up to `ms`; then everything closes. */
    async drain(ms) {
      state.draining = true
      const finished = await runs.settle(ms)
      await instances.disposeAll()
      await app.close()
      await runtime.close()
      return finished
    },
  }
}
