import {SERVICE, SERVICE_PORTS} from '../core/labels.js'
import type {PublishedPort, ServiceRecord} from '../core/types.js'
import {isDnsLabel} from '../core/validate.js'
import type {ContainerDetails} from '../docker/types.js'
import {serviceKey} from '../registry/schema.js'

export interface HostInfo {
  id: string
  name: string
  bridgeIp: string
}

function containerPorts(info: ContainerDetails): string[] {
  const declared = info.Config.Labels?.[SERVICE_PORTS]
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
 * The address other hosts (and the proxy in its own container) use: a binding on the bridge IP or
 * on every address is reached at the bridge IP; a binding on one specific address is reached there.
 */
function publishedPort(info: ContainerDetails, containerPort: string, bridgeIp: string): PublishedPort {
  // An own property only: a port named like an Object.prototype member ("constructor") is no binding.
  const published = info.NetworkSettings.Ports ?? {}
  const bindings = (Object.hasOwn(published, containerPort) ? (published[containerPort] ?? []) : []) as Array<{HostIp: string; HostPort: string}>
  const binding =
    bindings.find((candidate) => candidate.HostIp === bridgeIp) ??
    bindings.find((candidate) => candidate.HostIp === '0.0.0.0' || candidate.HostIp === '') ??
    bindings.find((candidate) => !candidate.HostIp.includes(':'))
  if (!binding) return {address: bridgeIp, containerPort, port: 0}
  const address = binding.HostIp === '0.0.0.0' || binding.HostIp === '' ? bridgeIp : binding.HostIp
  return {address, containerPort, port: Number(binding.HostPort) || 0}
}

/** The record for one inspected container, or null when it is not a (valid) highway service. */
export function recordFromContainer(info: ContainerDetails, host: HostInfo, now = new Date()): ServiceRecord | null {
  const name = info.Config.Labels?.[SERVICE]
  if (!name || !isDnsLabel(name)) return null
  const ports = containerPorts(info).map((port) => publishedPort(info, port, host.bridgeIp))
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
    hostId: host.id,
    hostName: host.name,
    name,
    ports: live ? ports : ports.map((port) => ({...port, port: 0})),
    schema: 1,
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
