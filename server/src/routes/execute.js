// POST /v1/execute (a fresh instance runs one export with JSON in and out) and POST /v1/invoke
// (a fresh instance runs one typed function with JSON values).
import { toJson, widenArgs } from '../json.js'
import { executeBody, invokeBody } from '../schemas.js'

export function executeRoutes(app, { runtime, modules, runs }) {
  app.post('/v1/execute', { schema: { body: executeBody } }, async (request, reply) => {
    const { module: name, input, export: exportName = 'execute' } = request.body
    const entry = modules.resolve(request.access, name)
    request.probe = { module: name, export: exportName }
    return runs.run(request.runOf(entry.name, reply), (signal) =>
      runtime.executeProbe(entry.module, input, { ...entry.grant, export: exportName, signal, label: request.labelOf(name) }),
    )
  })

  app.post('/v1/invoke', { schema: { body: invokeBody } }, async (request, reply) => {
    const { module: name, name: fnName, args = [] } = request.body
    const entry = modules.resolve(request.access, name)
    request.probe = { module: name, export: fnName }
    const fn = entry.functions.get(fnName)
    const value = await runs.run(request.runOf(entry.name, reply), (signal) =>
      runtime.invoke(entry.module, fnName, widenArgs(fn, args), { ...entry.grant, signal, label: request.labelOf(name) }),
    )
    return reply.type('application/json; charset=utf-8').send(toJson({ value }))
  })
}
