// Entry point of the TCP forwarder container (bundled to lib/tcp.cjs by scripts/bundle-agent.js). It
// holds no credential and no socket to Docker or etcd: it serves what the agent wrote to the run
// directory, and nothing else (docs/architecture.md, "TCP by name").
import {watch} from 'node:fs'
import {readFile, rename, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {RUN_DIR} from '../proxy/haproxy.js'
import {parseRange, probeAddress} from './addresses.js'
import {TcpForwarder} from './forwarder.js'
import {HOSTS_FILE, HTTP_PORT, NAMES_DIR, TABLE_FILE, parseTcpTable, renderHosts} from './table.js'

const log = (message: string) => console.log(`${new Date().toISOString()} highway tcp: ${message}`)
const runDir = process.env.HIGHWAY_RUN_DIR ?? RUN_DIR
const file = join(runDir, TABLE_FILE)
const forwarder = new TcpForwarder(log)
const initial = {
  domain: process.env.HIGHWAY_DOMAIN,
  http: {address: process.env.HIGHWAY_BRIDGE_IP, port: HTTP_PORT},
  names: [],
  range: process.env.HIGHWAY_TCP_RANGE,
  schema: 1,
}

const namesDir = process.env.HIGHWAY_NAMES_DIR ?? NAMES_DIR
let published: string | null = null

/** dnsmasq's hosts file, written beside itself and renamed over (dnsmasq re-reads it on the rename). */
async function publishNames(text: string): Promise<void> {
  if (text === published) return
  const file = join(namesDir, HOSTS_FILE)
  await writeFile(`${file}.new`, text, {mode: 0o640})
  await rename(`${file}.new`, file)
  published = text
}

let reading: Promise<void> | null = null
let again = false

/** Reads the table and applies it; a change while one is applied is read once more after it. */
function refresh(): void {
  if (reading) {
    again = true
    return
  }
  reading = (async () => {
    try {
      do {
        again = false
        await applyTable().catch((error: Error) => log(`table not applied: ${error.message}`))
      } while (again)
    } finally {
      // Cleared in the step that found nothing more to read: a refresh() landing later starts a new run.
      reading = null
    }
  })()
}

async function applyTable(): Promise<void> {
  // Before the agent has written a table: highway's own address alone, from what `up` said.
  const text = (await readFile(file, 'utf8').catch(() => null)) ?? JSON.stringify(initial)
  const table = parseTcpTable(text)
  if (!table) {
    log(`${TABLE_FILE} is not a table; keeping what is served`)
    return
  }
  const before = forwarder.listening.length
  // highway's own address answers HTTP whatever the names: up, status and doctor check the whole path there.
  await forwarder.apply(table, [probeAddress(parseRange(table.range))])
  // Only now, and only the names it listens on: DNS never hands out an address nobody serves yet.
  const listening = new Set(forwarder.listening)
  await publishNames(renderHosts(table, (entry) => listening.has(`${entry.address}:${HTTP_PORT}`)))
  log(`${table.names.length} names, ${forwarder.listening.length} listeners (was ${before})`)
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
