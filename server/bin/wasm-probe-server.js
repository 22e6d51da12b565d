#!/usr/bin/env node
// wasm-probe-server: the repository README's "Server" section says what it serves and how.
import pino from 'pino'
import { ConfigError, USAGE, parseCommandLine } from '../src/config.js'
import { createServer } from '../src/server.js'

let config
try {
  config = parseCommandLine(process.argv.slice(2))
} catch (e) {
  if (!(e instanceof ConfigError)) throw e
  console.error(`wasm-probe-server: ${e.message}\n${USAGE}`)
  process.exit(2)
}
if (config.help) {
  console.log(USAGE)
  process.exit(0)
}

const log = pino({ level: config.logLevel, base: { pid: process.pid } })
let server
try {
  server = await createServer(config, log)
  const address = await server.app.listen({ port: config.port, host: config.host })
  log.info({ url: address, modules: server.runtime.stats().modules }, 'listening')
} catch (e) {
  if (e instanceof ConfigError) {
    console.error(`wasm-probe-server: ${e.message}`)
    process.exit(2)
  }
  log.fatal({ err: e }, 'could not start')
  process.exit(1)
}

let stopping = false
async function stop(signal) {
  if (stopping) return
  stopping = true
  log.info({ signal }, 'draining')
  const finished = await server.drain(config.drainMs)
  log.info({ finished }, finished ? 'drained' : 'drained; requests still running at the drain timeout were cancelled')
  process.exit(0)
}
process.on('SIGTERM', () => stop('SIGTERM'))
process.on('SIGINT', () => stop('SIGINT'))
