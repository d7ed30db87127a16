import {labelsSetAtCreate, REPLICA_OF, SERVICE, SERVICE_PORTS} from '../core/labels.js'
import type {PublishedPort, ServiceRecord} from '../core/types.js'
import {isDnsLabel} from '../core/validate.js'
import type {ContainerDetails} from '../docker/types.js'
import {serviceKey} from '../registry/schema.js'

export interface HostInfo {
  id: string
  name: string
  bridgeIp: string
  /** Where other hosts reach this one (`up --advertise-ip`), '' or absent when none does. */
  advertiseIp?: string
}

/** What a container's own labels ask of highway, or why they are not honoured. */
export type Claim = {name: string; replica: boolean; ports: string | undefined} | {unusable: string}

/**
 * Reads highway's labels from those set when the container was created (never the image's): null
 * when the container asks for no name at all.
 */
export function claimFrom(labels: Record<string, string> | null | undefined, imageLabels: Record<string, string> | null): Claim | null {
  const own = labelsSetAtCreate(labels, imageLabels)
  const name = own[SERVICE]
  if (name === undefined) {
    if (labels?.[SERVICE] === undefined) return null
    return {
      unusable: imageLabels === null ? 'its image cannot be read, so its labels cannot be told from the image’s' : 'the service label comes from its image',
    }
  }
  if (!isDnsLabel(name)) return {unusable: 'the name is not a DNS label'}
  const replicaOf = own[REPLICA_OF]
  if (replicaOf !== undefined && replicaOf !== name) return {unusable: `${REPLICA_OF}=${replicaOf} differs from ${SERVICE}=${name}`}
  return {name, ports: own[SERVICE_PORTS], replica: replicaOf !== undefined}
}

/** Unknown or unreadable creation times sort last: such a container never takes a name from another. */
const LAST = '9999-12-31T23:59:59.999999999Z'

/**
 * Docker's RFC 3339 time (fraction trimmed of zeros, so "…03.1184Z" would sort after "…03.11841Z"
 * as text) as UTC with exactly nine fraction digits, where string order is time order.
 */
export function creationTime(created: string | undefined): string {
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(created ?? '')
  if (!match) return LAST
  const seconds = new Date(`${match[1]}${match[3]}`)
  if (Number.isNaN(seconds.getTime())) return LAST
  return `${seconds.toISOString().slice(0, 19)}.${(match[2] ?? '').padEnd(9, '0')}Z`
}

function containerPorts(info: ContainerDetails, declared: string | undefined): string[] {
  if (declared) {
    return declared
      .split(',')
      .map((port) => port.trim())
      .filter(Boolean)
      .map((port) => (port.includes('/') ? port : `${port}/tcp`))
  }
  // A container labelled by hand or by compose without a ports label: use what it publishes.
  // Numeric order, so 80/tcp comes before 443/tcp and 9090/tcp before 10000/tcp.
  return Object.keys(info.HostConfig.PortBindings ?? {}).sort((a, b) => Number.parseInt(a, 10) - Number.parseInt(b, 10) || a.localeCompare(b))
}

/**
 * The address other hosts (and the proxy in its own container) use. With an advertise address, a
 * binding there (or on every address) is reached there: every host may use the same bridge subnet,
 * so another host's bridge IP would name the reader's own bridge. Without one, a binding on the
 * bridge IP or on every address is reached at the bridge IP. A binding on one other address is
 * reached there.
 */
function publishedPort(info: ContainerDetails, containerPort: string, host: HostInfo): PublishedPort {
  // An own property only: a port named like an Object.prototype member ("constructor") is no binding.
  const published = info.NetworkSettings.Ports ?? {}
  const bindings = (Object.hasOwn(published, containerPort) ? (published[containerPort] ?? []) : []) as Array<{HostIp: string; HostPort: string}>
  const everywhere = (candidate: {HostIp: string}) => candidate.HostIp === '0.0.0.0' || candidate.HostIp === ''
  const outward = host.advertiseIp || host.bridgeIp
  const binding =
    bindings.find((candidate) => candidate.HostIp === outward) ??
    bindings.find((candidate) => everywhere(candidate)) ??
    bindings.find((candidate) => candidate.HostIp === host.bridgeIp) ??
    bindings.find((candidate) => !candidate.HostIp.includes(':'))
  if (!binding) return {address: outward, containerPort, port: 0}
  return {address: everywhere(binding) ? outward : binding.HostIp, containerPort, port: Number(binding.HostPort) || 0}
}

/**
 * The record for one inspected container, or null when it is not a (valid) highway service.
 * `imageLabels` are the labels of its image (`info.Image`), null when they cannot be read: only
 * what was set when the container was created counts.
 */
export function recordFromContainer(
  info: ContainerDetails,
  host: HostInfo,
  imageLabels: Record<string, string> | null,
  now = new Date(),
): ServiceRecord | null {
  const claim = claimFrom(info.Config.Labels, imageLabels)
  if (!claim || 'unusable' in claim) return null
  const {name} = claim
  const ports = containerPorts(info, claim.ports).map((port) => publishedPort(info, port, host))
  const running = info.State.Running && !info.State.Paused && !info.State.Restarting
  const live = running && ports.length > 0 && ports.every((port) => port.port > 0)
  // Only a failing check holds traffic back: "starting" is routed, so requests reach a container as
  // soon as it listens (the proxy retries refused connects) instead of 503s until the first check.
  const unhealthy = live && info.State.Health?.Status === 'unhealthy'
  return {
    containerId: info.Id,
    // Only the default bridge: the proxy lives there, and an address on another network is unreachable from it.
    containerIp: info.NetworkSettings.Networks?.bridge?.IPAddress || '',
    containerName: info.Name.replace(/^\//, ''),
    createdAt: creationTime(info.Created),
    hostId: host.id,
    hostName: host.name,
    name,
    ports: live ? ports : ports.map((port) => ({...port, port: 0})),
    replica: claim.replica,
    schema: 2,
    state: unhealthy ? 'unhealthy' : live ? 'running' : 'stopped',
    updatedAt: now.toISOString(),
  }
}

/** The same registration with its container known to be stopped: no ports to route to. */
export function stoppedRecord(record: ServiceRecord, now = new Date()): ServiceRecord {
  return {...record, containerIp: '', ports: record.ports.map((port) => ({...port, port: 0})), state: 'stopped', updatedAt: now.toISOString()}
}

/** Records are equal when everything but the timestamp is: no etcd write, no reload. */
export function sameRecord(a: ServiceRecord, b: ServiceRecord): boolean {
  return JSON.stringify({...a, updatedAt: ''}) === JSON.stringify({...b, updatedAt: ''})
}

export interface RecordChanges {
  put: ServiceRecord[]
  delete: string[]
}

/**
 * What to write so etcd holds exactly `desired` for this host: records that differ are put, keys
 * of this host with no container behind them are deleted (stale routes never outlive a reconcile).
 */
export function diffRecords(desired: ServiceRecord[], current: Map<string, ServiceRecord>, hostId: string): RecordChanges {
  const wanted = new Map(desired.map((record) => [serviceKey(record), record]))
  const put = desired.filter((record) => {
    const existing = current.get(serviceKey(record))
    return !existing || !sameRecord(existing, record)
  })
  const del = [...current].filter(([key, record]) => record.hostId === hostId && !wanted.has(key)).map(([key]) => key)
  return {delete: del, put}
}

/**
 * A record's part in its name's traffic. Only running containers (healthy or not) take part: a
 * stopped one holds nothing, and when it runs again it takes its place back.
 * - owner: the running container that claimed the name first;
 * - replica: created to share the name on purpose, served beside the owner;
 * - conflict: merely carries the same service label, so it gets no traffic.
 */
export type Standing = {role: 'owner'} | {role: 'replica' | 'conflict'; owner: ServiceRecord} | {role: 'stopped'}

/**
 * Whether `a` claimed its name before `b`: the earlier creation time, then the smaller container ID
 * (then host ID). Both come from the records alone, so every host's proxy, which renders from the
 * same etcd, picks the same owner whatever order the records arrived in.
 */
export function claimedBefore(a: ServiceRecord, b: ServiceRecord): boolean {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt
  if (a.containerId !== b.containerId) return a.containerId < b.containerId
  return a.hostId < b.hostId
}

/** Each record's standing under its name (see Standing); records are keyed by identity. */
export function standings(records: ServiceRecord[]): Map<ServiceRecord, Standing> {
  const running = (record: ServiceRecord) => record.state === 'running' || record.state === 'unhealthy'
  const owners = new Map<string, ServiceRecord>()
  for (const record of records) {
    if (!running(record)) continue
    const owner = owners.get(record.name)
    if (!owner || claimedBefore(record, owner)) owners.set(record.name, record)
  }
  const result = new Map<ServiceRecord, Standing>()
  for (const record of records) {
    const owner = owners.get(record.name)
    if (!running(record) || !owner) result.set(record, {role: 'stopped'})
    else if (owner === record) result.set(record, {role: 'owner'})
    else result.set(record, {owner, role: record.replica ? 'replica' : 'conflict'})
  }
  return result
}
