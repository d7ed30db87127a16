// Entry point of the TCP forwarder container (bundled to lib/tcp.cjs by scripts/bundle-agent.js). It
// holds no credential and no socket to Docker or etcd: it serves what the agent wrote to the run
// directory, and nothing else (docs/architecture.md, "TCP by name").
import {watch} from 'node:fs'
import {readFile} from 'node:fs/promises'
import {join} from 'node:path'
import {RUN_DIR} from '../proxy/haproxy.js'
import {TcpForwarder} from './forwarder.js'
import {HTTP_PORT, TABLE_FILE, parseTcpTable} from './table.js'

const log = (message: string) => console.log(`${new Date().toISOString()} highway tcp: ${message}`)
const runDir = process.env.HIGHWAY_RUN_DIR ?? RUN_DIR
const file = join(runDir, TABLE_FILE)
const forwarder = new TcpForwarder(log)
const initial = {http: {address: process.env.HIGHWAY_BRIDGE_IP, port: HTTP_PORT}, names: [], range: process.env.HIGHWAY_TCP_RANGE, schema: 1}

let reading: Promise<void> | null = null
let again = false

/** Reads the table and applies it; a change while one is applied is read once more after it. */
function refresh(): void {
  if (reading) {
    again = true
    return
  }
  reading = (async () => {
    do {
      again = false
      // Before the agent has written a table: highway's own address alone, from what `up` said.
      const text = (await readFile(file, 'utf8').catch(() => null)) ?? JSON.stringify(initial)
      const table = parseTcpTable(text)
      if (!table) {
        log(`${TABLE_FILE} is not a table; keeping what is served`)
        continue
      }
      const before = forwarder.listening.length
      await forwarder.apply(table)
      log(`${table.names.length} names, ${forwarder.listening.length} listeners (was ${before})`)
    } while (again)
  })().finally(() => {
    reading = null
  })
}

// The agent renames a new table over the old one: one event in the directory, no polling.
watch(runDir, (_event, name) => {
  if (name === TABLE_FILE) refresh()
})
refresh()

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    forwarder.close()
    process.exit(0)
  })
}
log(`serving ${file}`)
