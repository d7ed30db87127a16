import {isIPv4} from 'node:net'
import {standings} from '../agent/records.js'
import type {ServiceRecord} from '../core/types.js'
import {isDnsLabel, isDomain, isPort} from '../core/validate.js'
import {serverFor, serverId} from '../proxy/haproxy.js'
import {backendProblem, recordShapeProblem, shown, type CheckContext} from '../registry/schema.js'
import {allocate, inRange, parseRange, type AddressRange} from './addresses.js'

/**
 * What the TCP forwarder serves and dnsmasq answers, rendered by the agent from the records and read
 * by both from the proxy's run directory (docs/architecture.md, "TCP by name"). Every name has an
 * address of its own from highway's range; on it, port 80 is the HTTP proxy (Host-header routing as
 * on the bridge address) and every other TCP port the name's containers publish is forwarded raw.
 */
export interface TcpTable {
  schema: 1
  domain: string
  range: string
  /** Where the forwarder sends port 80 of every address: the HTTP proxy on the bridge. */
  http: {address: string; port: number}
  names: TcpName[]
}

export interface TcpName {
  name: string
  address: string
  /** Ports forwarded raw, ascending; a port with no backend is left out (a connect is refused at once). */
  ports: Array<{port: number; backends: Array<{id: string; address: string; port: number}>}>
}

export const HTTP_PORT = 80
export const TABLE_FILE = 'tcp.json'
/**
 * dnsmasq's --hostsdir: the names' addresses, in one hosts file written by the forwarder once it
 * listens on them (so DNS never hands out an address nobody serves yet), re-read by dnsmasq whenever it changes.
 */
export const NAMES_DIR = '/run/highway-names'
export const HOSTS_FILE = 'highway'

export interface TcpInput extends CheckContext {
  domain: string
  range: string
  records: ServiceRecord[]
  /** The table before: a name keeps its address. */
  previous?: TcpTable | null
}

/**
 * Renders the table. Records are judged as the HTTP routes are (haproxy.ts): a conflict gets no
 * traffic, only running containers serve, and a backend that points at highway's own listeners,
 * loopback, link-local or into the range itself (the forwarder would call itself) is dropped.
 */
export function renderTcpTable(input: TcpInput): TcpTable {
  const range = parseRange(input.range)
  const records = input.records.filter((record) => recordShapeProblem(record) === null && isDnsLabel(record.name))
  const standing = standings(records)
  const ports = new Map<string, Map<number, TcpName['ports'][number]['backends']>>()
  for (const record of records) {
    if (standing.get(record)?.role === 'conflict') continue
    const byPort = ports.get(record.name) ?? new Map<number, TcpName['ports'][number]['backends']>()
    ports.set(record.name, byPort)
    const id = serverId(record)
    if (record.state !== 'running' || !id) continue
    for (const port of record.ports) {
      const [inside, protocol] = port.containerPort.split('/')
      const listen = Number(inside)
      if (protocol !== 'tcp' || !isPort(listen) || listen === HTTP_PORT) continue
      const server = serverFor(record, port, input.localHostId)
      if (!server || backendProblem(server.address, server.port, {...input, tcpRange: input.range}) !== null) continue
      const backends = byPort.get(listen) ?? []
      if (!backends.some((backend) => backend.id === id)) backends.push({id, ...server})
      byPort.set(listen, backends)
    }
  }
  const previous = new Map((input.previous?.range === input.range ? input.previous.names : []).map((entry) => [entry.name, entry.address]))
  const addresses = allocate(range, ports.keys(), previous)
  const names: TcpName[] = [...addresses].map(([name, address]) => ({
    address,
    name,
    ports: [...ports.get(name)!]
      .filter(([, backends]) => backends.length > 0)
      .sort(([a], [b]) => a - b)
      .map(([port, backends]) => ({backends: backends.sort((a, b) => a.id.localeCompare(b.id)), port})),
  }))
  if (!isDomain(input.domain)) throw new Error(`invalid domain ${shown(input.domain)}`)
  return {domain: input.domain, http: {address: input.bridgeIp ?? '', port: HTTP_PORT}, names, range: input.range, schema: 1}
}

/** The hosts file dnsmasq reads, for the names in `served`: one line each; dnsmasq answers these before its domain-wide address. */
export function renderHosts(table: TcpTable, served: (entry: TcpName) => boolean = () => true): string {
  return table.names
    .filter(served)
    .map((entry) => `${entry.address} ${entry.name}.${table.domain}\n`)
    .join('')
}

/**
 * Reads a table written by the agent, keeping only what is well-formed: the forwarder listens on
 * what it finds there, so an address outside the range, a bad port or a loopback backend is dropped
 * whoever wrote it. Null when the text is not a table at all.
 */
export function parseTcpTable(text: string): TcpTable | null {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return null
  }
  const table = value as Partial<TcpTable> | null
  if (!table || table.schema !== 1 || typeof table.range !== 'string' || !Array.isArray(table.names) || typeof table.http !== 'object' || !table.http)
    return null
  const domain = table.domain
  if (typeof domain !== 'string' || !isDomain(domain)) return null
  let range: AddressRange
  try {
    range = parseRange(table.range)
  } catch {
    return null
  }
  const http = {address: String(table.http.address), port: Number(table.http.port)}
  if (!isIPv4(http.address) || !isPort(http.port)) return null
  const names: TcpName[] = []
  for (const entry of table.names as unknown[]) {
    const candidate = entry as Partial<TcpName>
    if (typeof candidate?.name !== 'string' || !isDnsLabel(candidate.name) || typeof candidate.address !== 'string' || !inRange(range, candidate.address))
      continue
    const ports = (Array.isArray(candidate.ports) ? candidate.ports : []).flatMap((port) => {
      if (!isPort(Number(port?.port)) || Number(port.port) === HTTP_PORT || !Array.isArray(port.backends)) return []
      const backends = port.backends
        .map((backend: Partial<TcpName['ports'][number]['backends'][number]> | null) => ({
          address: String(backend?.address),
          id: String(backend?.id),
          port: Number(backend?.port),
        }))
        .filter((backend) => isPort(backend.port) && backendProblem(backend.address, null) === null && !inRange(range, backend.address))
      return backends.length > 0 ? [{backends, port: Number(port.port)}] : []
    })
    names.push({address: candidate.address, name: candidate.name, ports})
  }
  return {domain, http, names, range: table.range, schema: 1}
}
