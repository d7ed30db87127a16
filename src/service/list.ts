import {claimFrom, standings} from '../agent/records.js'
import type {ReadClients} from '../clients.js'
import {UserError} from '../core/errors.js'
import {SERVICE} from '../core/labels.js'
import type {ServiceRecord, Settings} from '../core/types.js'
import {displayName, imageLabelsOf} from '../docker/summary.js'
import type {ContainerSummary} from '../docker/types.js'
import {unreachable, type InvalidRecord} from '../registry/registry.js'
import {parseServiceKey} from '../registry/schema.js'

export interface ServiceRow {
  name: string
  url: string
  /** Where it is reached by raw TCP, "cache.local:6379" per published TCP port but 80 (port 80 is the URL); empty with TCP by name off. */
  tcp: string[]
  backend: string
  container: string
  host: string
  /** running, stopped, unhealthy (from the record or Docker), or invalid: a key whose value is not a well-formed record. */
  state: string
  /** Set when etcd and Docker disagree, e.g. a record whose container is gone (the agent is behind or down), or why a record is invalid. */
  problem: string | null
  /** The etcd key, on invalid rows: what to delete or look at. */
  key?: string
  /**
   * Its part in the name's traffic while running (agent/records.ts `standings`): the owner, a
   * replica beside it, or a conflict that gets none; null when stopped or not registered.
   */
  role: 'owner' | 'replica' | 'conflict' | null
  /** For a replica or a conflict, the container that owns the name: "api on host-a". */
  owner: string | null
}

/** The name's TCP addresses: each TCP container port but 80, as the forwarder serves them (tcp/table.ts). */
function tcpAddresses(name: string, ports: ServiceRecord['ports'], settings: Settings): string[] {
  if (!settings.tcpRange) return []
  const numbers = ports.flatMap((port) => {
    const [inside, protocol] = port.containerPort.split('/')
    return protocol === 'tcp' && inside !== '80' ? [Number(inside)] : []
  })
  return [...new Set(numbers)].sort((a, b) => a - b).map((port) => `${name}.${settings.domain}:${port}`)
}

/**
 * Joins etcd's records with what Docker reports on this host, so the listing stays truthful when
 * the agent is down: records without a container, or containers without a record, are flagged.
 */
export function serviceRows(
  records: ServiceRecord[],
  containers: ContainerSummary[],
  settings: Settings,
  hostId: string,
  /** Image ID -> its labels (null: unreadable), for this host's labelled containers without a record. */
  imageLabels = new Map<string, Record<string, string> | null>(),
  invalid: InvalidRecord[] = [],
): ServiceRow[] {
  const byId = new Map(containers.map((container) => [container.Id, container]))
  const standing = standings(records)
  const rows: ServiceRow[] = records.map((record) => {
    const port = record.ports[0]
    let problem: string | null = null
    if (record.hostId === hostId) {
      const container = byId.get(record.containerId)
      const running = container?.State === 'running'
      if (!container) problem = 'container is gone (agent not caught up)'
      else if (running !== (record.state !== 'stopped')) problem = `docker says ${container.State}`
    }
    const part = standing.get(record) ?? {role: 'stopped'}
    const owner = 'owner' in part ? `${part.owner.containerName} on ${part.owner.hostName}` : null
    if (part.role === 'conflict') problem ??= `conflict: ${record.name} is owned by ${owner}, so this container gets no traffic`
    return {
      backend: port && port.port > 0 && part.role !== 'conflict' ? `${port.address}:${port.port}` : '-',
      container: record.containerName,
      host: record.hostName,
      name: record.name,
      owner,
      problem,
      role: part.role === 'stopped' ? null : part.role,
      state: record.state,
      tcp: part.role === 'conflict' ? [] : tcpAddresses(record.name, record.ports, settings),
      url: `http://${record.name}.${settings.domain}/`,
    }
  })
  // What the key says, for the columns: nothing of a bad value is trusted, so no URL and no backend.
  const invalidIds = new Set<string>()
  for (const {key, reason} of invalid) {
    const parsed = parseServiceKey(key)
    if (parsed) invalidIds.add(parsed.containerId)
    rows.push({
      backend: '-',
      container: parsed ? parsed.containerId.slice(0, 12) : '-',
      host: parsed?.hostId ?? '-',
      key,
      name: parsed?.name ?? '-',
      owner: null,
      problem: reason,
      role: null,
      state: 'invalid',
      tcp: [],
      url: '-',
    })
  }
  const registered = new Set(records.map((record) => record.containerId))
  for (const container of containers) {
    const name = container.Labels[SERVICE]
    if (!name || registered.has(container.Id)) continue
    const claim = claimFrom(container.Labels, imageLabels.get(container.ImageID) ?? {})
    rows.push({
      backend: '-',
      container: displayName(container),
      host: '(this host)',
      name,
      owner: null,
      problem:
        claim && 'unusable' in claim
          ? `never routed: ${claim.unusable}`
          : invalidIds.has(container.Id)
            ? 'its record in etcd is invalid'
            : 'not registered (agent down or behind?)',
      role: null,
      state: container.State,
      tcp: [],
      url: `http://${name}.${settings.domain}/`,
    })
  }
  return rows.sort((a, b) => a.name.localeCompare(b.name) || a.container.localeCompare(b.container))
}

/** `highway ls`: every record in the registry, joined with this host's labelled containers. */
export async function listServices(clients: ReadClients, settings: Settings): Promise<ServiceRow[]> {
  if (!settings.bridgeIp) throw new UserError('highway is not set up on this host', {suggestion: 'run `highway up` first'})
  // etcd is asked while the engine answers its ping and list (`ls` is asked at the prompt), but the
  // engine's failure is still the one said: without it, etcd (its container) is usually down too.
  const listed = (async () => {
    const registry = clients.registry(settings)
    try {
      return await registry.listServices()
    } catch (error) {
      throw unreachable(registry.endpoints, error)
    }
  })()
  // Awaited below; until then its failure must not count as unhandled, should the engine fail first.
  listed.catch(() => {})
  const docker = await clients.docker()
  const containers = await docker.containers.list([SERVICE])
  const {invalid, records} = await listed
  // Only a container without a record needs its image's labels: to say why it is not routed.
  const registered = new Set([...records.values()].map((record) => record.containerId))
  const imageLabels = await imageLabelsOf(
    docker.images,
    containers.filter((container) => !registered.has(container.Id)),
  )
  return serviceRows([...records.values()], containers, settings, settings.hostId ?? '', imageLabels, invalid)
}
