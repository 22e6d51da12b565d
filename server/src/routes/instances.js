// Long-lived instances: create, call, look at, dispose, and watch (WebSocket).
import { wasmErrorBody } from '../errors.js'
import { callBody, createInstanceBody, instanceParams } from '../schemas.js'

export function instanceRoutes(app, { modules, instances, runs }) {
  app.post('/v1/instances', { schema: { body: createInstanceBody } }, async (request, reply) => {
    const entry = modules.resolve(request.access, request.body.module)
    request.probe = { module: entry.name }
    const record = await instances.create(request.access, entry, request.labelOf(entry.name))
    return reply.code(201).send({ id: record.id })
  })

  // Every field of a call is optional, so is its body.
  const noBodyIsEmpty = async (request) => {
    request.body ??= {}
  }
  app.post('/v1/instances/:id/call', { schema: { body: callBody, params: instanceParams }, preValidation: noBodyIsEmpty }, async (request, reply) => {
    const record = instances.get(request.access, request.params.id)
    const { export: exportName = 'execute', input } = request.body
    request.probe = { module: record.module, export: exportName, instance: record.id }
    return runs.run(request.runOf(record.module, reply), (signal) => record.instance.call(exportName, input, { signal }))
  })

  app.get('/v1/instances/:id', { schema: { params: instanceParams } }, async (request) => {
    const record = instances.get(request.access, request.params.id)
    return { id: record.id, module: record.module, state: record.instance.state }
  })

  app.delete('/v1/instances/:id', { schema: { params: instanceParams } }, async (request, reply) => {
    const record = instances.get(request.access, request.params.id)
    request.probe = { module: record.module, instance: record.id }
    await instances.dispose(record)
    return reply.code(204).send()
  })

  app.get(
    '/v1/instances/:id/events',
    {
      websocket: true,
      schema: { params: instanceParams },
      // An unknown id is refused before the upgrade, with an ordinary 404.
      preValidation: async (request) => {
        request.instanceRecord = instances.get(request.access, request.params.id)
      },
    },
    (socket, request) => watch(socket, request.instanceRecord, runs, request.access.tenant),
  )
}

/** One WebSocket on an instance: live messages out, `{ type: 'call', id, export?, input? }` in. */
function watch(socket, record, runs, tenant) {
  record.sockets.add(socket)
  // Calls this socket started end when it closes.
  const stops = new Set()
  socket.on('close', () => {
    record.sockets.delete(socket)
    for (const stop of stops) stop()
  })
  const watch = (stop) => {
    stops.add(stop)
    return () => stops.delete(stop)
  }
  const reply = (message) => {
    if (socket.readyState === 1) socket.send(JSON.stringify(message))
  }
  socket.send(JSON.stringify({ type: 'state', state: record.instance.state }))
  socket.on('message', (data, isBinary) => {
    const message = parseCall(data, isBinary)
    if (typeof message === 'string') return reply({ type: 'error', message })
    const { id, export: exportName = 'execute', input } = message
    runs
      .run({ module: record.module, tenant, watch }, (signal) => record.instance.call(exportName, input, { signal }))
      .then(
        (result) => reply({ type: 'result', id, ...result }),
        (e) => reply({ type: 'result', id, error: wasmErrorBody(e) }),
      )
  })
}

/** The call a client message asks for, or what is wrong with it. */
function parseCall(data, isBinary) {
  if (isBinary) return 'messages are JSON text, not binary'
  let message
  try {
    message = JSON.parse(data.toString('utf8'))
  } catch (e) {
    return `the message is not JSON: ${e.message}`
  }
  if (message === null || typeof message !== 'object' || Array.isArray(message)) return 'a message must be a JSON object'
  if (message.type !== 'call') return `message.type: must be "call", not ${JSON.stringify(message.type)}`
  if (typeof message.id !== 'string' && typeof message.id !== 'number') return 'message.id: must be a string or a number'
  if (message.export !== undefined && (typeof message.export !== 'string' || message.export === '')) return 'message.export: must be a non-empty string'
  return message
}
