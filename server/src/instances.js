// Long-lived instances by id, each with the WebSockets that watch it. Everything the instance
// reports — guest logs, events, state changes — goes to every socket of that instance, live.
import { randomUUID } from 'node:crypto'
import { notFound } from './errors.js'

// WebSocket readyState OPEN.
const OPEN = 1

export class Instances {
  #byId = new Map()
  #runtime

  constructor(runtime) {
    this.#runtime = runtime
  }

  get size() {
    return this.#byId.size
  }

  /** A new instance of `entry` for `access`; rejects as runtime.instantiate does (ERR_WASM_BUSY at capacity). */
  async create(access, entry, label) {
    const record = { id: randomUUID(), module: entry.name, tenant: access.tenant, instance: null, sockets: new Set() }
    const send = (message) => broadcast(record, message)
    record.instance = await this.#runtime.instantiate(entry.module, {
      ...entry.grant,
      label,
      onLog: (log) => send({ type: 'log', ...log }),
      onEvent: (event) => send({ type: 'event', ...event }),
      // 'disposed' is sent by dispose() itself, before the sockets close.
      onStateChange: (change) => change.state !== 'disposed' && send({ type: 'state', ...change }),
    })
    this.#byId.set(record.id, record)
    return record
  }

  /** The instance `id` if it is `access`'s tenant's; 404 otherwise (another tenant's ids are not revealed). */
  get(access, id) {
    const record = this.#byId.get(id)
    if (!record || record.tenant !== access.tenant) throw notFound(`no instance "${id}"`)
    return record
  }

  async dispose(record) {
    if (!this.#byId.delete(record.id)) return
    const previous = record.instance.state
    await record.instance.dispose()
    broadcast(record, { type: 'state', state: 'disposed', previous, reason: 'disposed' })
    for (const socket of record.sockets) socket.close(1000, 'instance disposed')
  }

  async disposeAll() {
    await Promise.all([...this.#byId.values()].map((record) => this.dispose(record)))
  }
}

function broadcast(record, message) {
  if (record.sockets.size === 0) return
  const text = JSON.stringify(message)
  for (const socket of record.sockets) if (socket.readyState === OPEN) socket.send(text)
}
