// GET /health, GET /metrics, GET /v1/modules.
export function serviceRoutes(app, { modules, metrics, state }) {
  app.get('/health', async (_request, reply) => {
    if (state.draining) return reply.code(503).send({ status: 'draining' })
    return { status: 'ok' }
  })

  app.get('/metrics', async (_request, reply) => {
    reply.type(metrics.registry.contentType)
    return metrics.registry.metrics()
  })

  app.get('/v1/modules', async (request) => modules.describe(request.access))
}
