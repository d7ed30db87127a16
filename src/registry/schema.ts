import {isIPv4} from 'node:net'
import {INFRA_PORTS, type AgentReport, type ServiceRecord} from '../core/types.js'
import {isDnsLabel, isPort} from '../core/validate.js'
import {inRange, parseRange} from '../tcp/addresses.js'

/**
 * The etcd key schema, versioned under one prefix so a future layout can live beside this one:
 *
 *   /highway/v2/hosts/<hostId>/services/<name>/<containerId>  -> ServiceRecord (JSON), held by the agent's lease
 *   /highway/v2/hosts/<hostId>/agent                           -> AgentReport (JSON), held by the agent's lease
 *   /highway/v2/hosts/<hostId>/probe                           -> Probe (JSON), held by a joining `up`'s lease
 *   /highway/v2/hosts/<hostId>/reached/<probingHostId>         -> ReachAnswer (JSON), held by the agent's lease
 *
 * The host id comes first because etcd's permissions are key ranges (a prefix), not patterns: each
 * host's etcd role may write `hostPrefix(id)` and nothing else, and read the whole tree. One record
 * per container, so the same name on several containers or hosts becomes several servers of one
 * backend, and a dead host's records vanish with its lease.
 */
export const ROOT = '/highway/v2/'
/** Every host's records and report: what a proxy reads and watches. */
export const HOSTS = `${ROOT}hosts/`

/** A host id: what `hostPrefix` may hold without opening another host's range (no '/', never empty). */
export const HOST_ID = /^[a-z0-9][a-z0-9-]{0,62}$/

/** Everything one host writes, and the range its etcd role may write. */
export function hostPrefix(hostId: string): string {
  return `${HOSTS}${hostId}/`
}

export function serviceKey(record: Pick<ServiceRecord, 'containerId' | 'hostId' | 'name'>): string {
  return `${hostPrefix(record.hostId)}services/${record.name}/${record.containerId}`
}

export function agentKey(hostId: string): string {
  return `${hostPrefix(hostId)}agent`
}

/** Where `up` asks every other host's agent to dial its advertise address (see infra/reach.ts). */
export function probeKey(hostId: string): string {
  return `${hostPrefix(hostId)}probe`
}

/** Where host `hostId`'s agent says whether it reached `probingHostId`'s probe: its own range, so RBAC stays per host. */
export function reachKey(hostId: string, probingHostId: string): string {
  return `${hostPrefix(hostId)}reached/${probingHostId}`
}

/** The parts of a key under HOSTS, or null when it is not one: `[hostId, ...rest]`, none empty. */
function hostKeyParts(key: string): string[] | null {
  if (!key.startsWith(HOSTS)) return null
  const parts = key.slice(HOSTS.length).split('/')
  return parts.some((part) => part.length === 0) ? null : parts
}

export function parseServiceKey(key: string): {containerId: string; hostId: string; name: string} | null {
  const parts = hostKeyParts(key)
  if (!parts || parts.length !== 4 || parts[1] !== 'services') return null
  const [hostId, , name, containerId] = parts
  return {containerId, hostId, name}
}

/**
 * Whether a key lies where service records live (`<hosts>/<id>/services/...`), well-formed or not:
 * a malformed key there is reported as an invalid record, anything else under a host is not a record.
 */
export function inServiceRange(key: string): boolean {
  return hostKeyParts(key)?.[1] === 'services'
}

/** The host whose report this key holds, or null when it is not an agent report's key. */
export function parseAgentKey(key: string): string | null {
  const parts = hostKeyParts(key)
  return parts && parts.length === 2 && parts[1] === 'agent' ? parts[0] : null
}

/** The host asking to be dialled, or null when the key is not a probe's. */
export function parseProbeKey(key: string): string | null {
  const parts = hostKeyParts(key)
  return parts && parts.length === 2 && parts[1] === 'probe' && HOST_ID.test(parts[0]) ? parts[0] : null
}

// ---- values -----------------------------------------------------------------------------------
//
// Everything below judges a value read from etcd. Any container that can reach etcd, any other
// host's agent (an older or newer version) and anyone with etcdctl can write there, so nothing read
// is trusted: a record reaches the proxy, `ls` or `status` only whole and well-formed, and a bad one
// is reported with a reason instead of crashing its reader. Key parsing stays above, apart, so the
// key layout can change without touching these checks.

/** A record read from etcd: either well-formed, or the reason it is not (one line, safe to print). */
export type RecordCheck = {ok: true; record: ServiceRecord} | {ok: false; reason: string}

/** What a reader knows of its own host that makes some backends dangerous (see backendProblem). */
export interface CheckContext {
  /** This host's bridge IP, where highway's own listeners are. */
  bridgeIp?: string
  /** This host's advertise address: etcd listens there too. */
  advertiseIp?: string
  /**
   * This host's id. Hosts may all use the same bridge subnet, so another host's record pointing at
   * this host's bridge IP names a port here, not there.
   */
  localHostId?: string
  /** This host's TCP range (Settings.tcpRange): its addresses are highway's forwarder, never a backend. */
  tcpRange?: string
}

const STATES = new Set(['running', 'stopped', 'unhealthy'])
/** Docker's container ids: 64 lowercase hex characters. */
const CONTAINER_ID = /^[0-9a-f]{64}$/
/** Docker's own rule for container names; host names fit it too. Shown in `ls`, so no control characters. */
const DISPLAY_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/
const CONTAINER_PORT = /^(\d{1,5})\/(tcp|udp|sctp)$/
const HASH = /^[0-9a-f]{1,64}$/
/** Docker's creation time in UTC with exactly nine fraction digits (agent/records.ts creationTime). */
const CREATED_AT = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/
/** More ports than a record can sensibly hold (a published range of 1000 ports still fits). */
const MAX_PORTS = 4096
const INFRA_PORT_NUMBERS = new Set<number>(Object.values(INFRA_PORTS))

/** A value shown inside a reason: JSON-quoted, printable ASCII only, short. */
export function shown(value: unknown, max = 40): string {
  let text: string
  try {
    text = JSON.stringify(value) ?? String(value)
  } catch {
    text = String(typeof value)
  }
  const safe = text.replaceAll(/[^\x20-\x7e]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)
  return safe.length > max ? `${safe.slice(0, max)}...` : safe
}

function octets(address: string): number[] {
  return address.split('.').map(Number)
}

/**
 * Why the proxy must never connect to this backend, or null. Such an address would make the proxy
 * call itself or its own container's loopback, reach link-local services (cloud metadata), or hit
 * highway's own listeners on the bridge (a loop, or etcd's API through the proxy).
 */
export function backendProblem(address: string, port: number | null, context: CheckContext = {}): string | null {
  if (!isIPv4(address)) return `${shown(address)} is not an IPv4 address`
  const [a, b] = octets(address)
  if (a === 0) return `${address} is not a routable address`
  if (a === 127) return `${address} is a loopback address`
  if (a === 169 && b === 254) return `${address} is a link-local address`
  if (a >= 224) return `${address} is a multicast, reserved or broadcast address`
  if (context.bridgeIp && address === context.bridgeIp && (port === null || INFRA_PORT_NUMBERS.has(port))) {
    return `${address}${port === null ? '' : `:${port}`} is highway's own listener on the bridge`
  }
  if (context.advertiseIp && address === context.advertiseIp && (port === null || INFRA_PORT_NUMBERS.has(port))) {
    return `${address}${port === null ? '' : `:${port}`} is highway's own listener on the advertise address`
  }
  if (context.tcpRange && inRange(parseRange(context.tcpRange), address)) return `${address} is in highway's TCP range on this host (its own forwarder)`
  return null
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function timestampProblem(field: string, value: unknown): string | null {
  if (typeof value !== 'string' || value.length === 0 || value.length > 64 || Number.isNaN(Date.parse(value))) {
    return `${field} ${shown(value)} is not a timestamp`
  }
  return null
}

/**
 * The types the proxy renderer reads: what it needs so that no field can make it throw. The
 * renderer applies this (and backendProblem) itself, whatever wrote its records.
 */
export function recordShapeProblem(value: unknown): string | null {
  if (!isObject(value)) return `not a JSON object (${shown(value)})`
  for (const field of ['name', 'state', 'hostId', 'hostName', 'containerId', 'containerName', 'containerIp', 'updatedAt']) {
    if (typeof value[field] !== 'string') return `${field} is ${value[field] === undefined ? 'missing' : `not a string (${shown(value[field])})`}`
  }
  if (!Array.isArray(value.ports)) return `ports is ${value.ports === undefined ? 'missing' : `not an array (${shown(value.ports)})`}`
  for (const [index, port] of value.ports.entries()) {
    if (!isObject(port)) return `ports[${index}] is not an object (${shown(port)})`
    if (typeof port.containerPort !== 'string') return `ports[${index}].containerPort is not a string (${shown(port.containerPort)})`
    if (typeof port.address !== 'string') return `ports[${index}].address is not a string (${shown(port.address)})`
    if (typeof port.port !== 'number') return `ports[${index}].port is not a number (${shown(port.port)})`
  }
  return null
}

/** Why a parsed value is not a well-formed service record, or null. Its key is checked by checkRecord. */
export function recordProblem(value: unknown, context: CheckContext = {}): string | null {
  const shape = recordShapeProblem(value)
  if (shape) return shape
  const record = value as unknown as ServiceRecord
  if (record.schema !== 2) return `schema ${shown(record.schema)} is not 2`
  if (!isDnsLabel(record.name)) return `name ${shown(record.name)} is not a DNS label`
  if (!STATES.has(record.state)) return `state ${shown(record.state)} is not running, stopped or unhealthy`
  if (!HOST_ID.test(record.hostId)) return `hostId ${shown(record.hostId)} is not a host id`
  if (!DISPLAY_NAME.test(record.hostName)) return `hostName ${shown(record.hostName)} is not a host name`
  if (!CONTAINER_ID.test(record.containerId)) return `containerId ${shown(record.containerId)} is not a container id`
  if (!DISPLAY_NAME.test(record.containerName)) return `containerName ${shown(record.containerName)} is not a container name`
  if (record.ports.length > MAX_PORTS) return `ports has ${record.ports.length} entries (at most ${MAX_PORTS})`
  for (const [index, port] of record.ports.entries()) {
    const inside = CONTAINER_PORT.exec(port.containerPort)
    if (!inside || !isPort(Number(inside[1]))) return `ports[${index}].containerPort ${shown(port.containerPort)} is not <port>/<tcp|udp|sctp>`
    if (!Number.isInteger(port.port) || port.port < 0 || port.port > 65_535)
      return `ports[${index}].port ${shown(port.port)} is not a port number (0 when stopped)`
    const refused = backendProblem(port.address, port.port, context)
    if (refused) return `ports[${index}].address: ${refused}`
    if (context.localHostId && record.hostId !== context.localHostId && context.bridgeIp && port.address === context.bridgeIp) {
      return `ports[${index}].address: ${port.address} is this host's bridge, not host ${record.hostName}'s (that host needs \`highway up --advertise-ip\`)`
    }
  }
  if (record.containerIp !== '') {
    // The bridge IP is the gateway, never a container: with the container's own ports it names highway's listeners.
    const refused = backendProblem(record.containerIp, null, context)
    if (refused) return `containerIp: ${refused}`
  }
  // Compared as strings to decide who owns a name (agent/records.ts), so exactly this shape.
  if (typeof record.createdAt !== 'string' || !CREATED_AT.test(record.createdAt)) return `createdAt ${shown(record.createdAt)} is not <date>T<time>.<9 digits>Z`
  if (typeof record.replica !== 'boolean') return `replica ${shown(record.replica)} is not true or false`
  return timestampProblem('updatedAt', record.updatedAt)
}

/** Judges the value stored under a service key: the record, or why it is skipped. Never throws. */
export function checkRecord(key: string, value: string, context: CheckContext = {}): RecordCheck {
  const parsed = parseServiceKey(key)
  if (!parsed) return {ok: false, reason: `the key is not ${HOSTS}<hostId>/services/<name>/<containerId>`}
  let json: unknown
  try {
    json = JSON.parse(value)
  } catch {
    return {ok: false, reason: `not JSON (${shown(value)})`}
  }
  const problem = recordProblem(json, context)
  if (problem) return {ok: false, reason: problem}
  const record = json as ServiceRecord
  // A record must agree with its key: a host's agent deletes its own orphans by the hostId inside.
  for (const field of ['name', 'hostId', 'containerId'] as const) {
    if (record[field] !== parsed[field]) return {ok: false, reason: `${field} ${shown(record[field])} does not match the key (${shown(parsed[field])})`}
  }
  return {ok: true, record}
}

/** The record under a service key, or null when it is not well-formed (see checkRecord for why). */
export function parseRecord(key: string, value: string, context: CheckContext = {}): ServiceRecord | null {
  const check = checkRecord(key, value, context)
  return check.ok ? check.record : null
}

/** Why a value is not a well-formed agent report, or null; with its key, the key must name its host. */
export function agentReportProblem(value: string, key?: string): string | null {
  let report: unknown
  try {
    report = JSON.parse(value)
  } catch {
    return `not JSON (${shown(value)})`
  }
  if (!isObject(report)) return `not a JSON object (${shown(report)})`
  if (report.schema !== 1) return `schema ${shown(report.schema)} is not 1`
  if (typeof report.hostId !== 'string' || !HOST_ID.test(report.hostId)) return `hostId ${shown(report.hostId)} is not a host id`
  if (key !== undefined && key !== agentKey(report.hostId)) return `hostId ${shown(report.hostId)} does not match the key`
  if (typeof report.hostName !== 'string' || !DISPLAY_NAME.test(report.hostName)) return `hostName ${shown(report.hostName)} is not a host name`
  const started = timestampProblem('startedAt', report.startedAt)
  if (started) return started
  if (report.lastReconcileAt !== null) {
    const reconciled = timestampProblem('lastReconcileAt', report.lastReconcileAt)
    if (reconciled) return reconciled
  }
  for (const field of ['dockerConnected', 'etcdConnected']) {
    if (typeof report[field] !== 'boolean') return `${field} ${shown(report[field])} is not a boolean`
  }
  if (!Number.isSafeInteger(report.routes) || (report.routes as number) < 0) return `routes ${shown(report.routes)} is not a count`
  if (report.proxyConfigHash !== null && (typeof report.proxyConfigHash !== 'string' || !HASH.test(report.proxyConfigHash))) {
    return `proxyConfigHash ${shown(report.proxyConfigHash)} is not a hash`
  }
  return null
}

/** The agent report in `value`, or null when it is not well-formed. Never throws. */
export function parseAgentReport(value: string, key?: string): AgentReport | null {
  return agentReportProblem(value, key) === null ? (JSON.parse(value) as AgentReport) : null
}

/** A joining host's request: dial `address:port`, read the nonce its listener sends, and say so under your own prefix. */
export interface Probe {
  hostId: string
  address: string
  port: number
  /** This probe's id: an answer names it, so an answer left from an earlier probe never counts. */
  id: string
}

/** A host's answer to a probe: the nonce it read there, or why it could not. */
export interface ReachAnswer {
  probe: string
  nonce?: string
  error?: string
}

const PROBE_ID = /^[0-9a-f]{16}$/
/**
 * The ports a probe may name: IANA's dynamic range, where a joining host's listener picks one. An
 * admitted host can make every other agent dial what it names and learn from the answers whether the
 * port is open; kept to this range, that can never reach a well-known service (ssh, etcd's 2379, a
 * database) on the agents' networks.
 */
export const PROBE_PORTS = {max: 65_535, min: 49_152} as const
/** The nonce a probe's listener sends: anything else read there is another machine's answer, never written to etcd. */
export const NONCE = /^[0-9a-f]{32}$/

function parseObject(value: string): Record<string, unknown> | null {
  try {
    const parsed = JSON.parse(value) as unknown
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null
  } catch {
    return null
  }
}

/**
 * A probe read from etcd, or null when it is not a well-formed one. Any host may write one under its
 * own prefix, so what an agent dials is limited to a unicast IPv4 address that is not loopback, on a
 * port of PROBE_PORTS.
 */
export function parseProbe(hostId: string, value: string): Probe | null {
  const probe = parseObject(value)
  if (!probe) return null
  const {address, id, port} = probe
  if (
    typeof address !== 'string' ||
    !isIPv4(address) ||
    typeof port !== 'number' ||
    !isPort(port) ||
    port < PROBE_PORTS.min ||
    typeof id !== 'string' ||
    !PROBE_ID.test(id)
  )
    return null
  const first = octets(address)[0]
  if (first === 0 || first === 127 || first >= 224) return null
  return {address, hostId, id, port}
}

export function parseReachAnswer(value: string): ReachAnswer | null {
  const answer = parseObject(value)
  if (!answer || typeof answer.probe !== 'string') return null
  if (typeof answer.nonce === 'string') return {nonce: answer.nonce, probe: answer.probe}
  if (typeof answer.error === 'string') return {error: answer.error, probe: answer.probe}
  return null
}
