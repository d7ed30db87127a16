import type {Clients} from '../clients.js'
import {UserError} from '../core/errors.js'
import {SERVICE} from '../core/labels.js'
import {isDnsLabel} from '../core/validate.js'
import type {ServiceRecord, Settings} from '../core/types.js'
import {displayName} from '../docker/client.js'
import type {ContainerSummary} from '../docker/types.js'
import {unreachable} from '../registry/registry.js'

export interface ServiceRow {
  name: string
  url: string
  backend: string
  container: string
  host: string
  state: string
  /** Set when etcd and Docker disagree, e.g. a record whose container is gone (the agent is behind or down). */
  problem: string | null
}

/**
 * Joins etcd's records with what Docker reports on this host, so the listing stays truthful when
 * the agent is down: records without a container, or containers without a record, are flagged.
 */
export function serviceRows(records: ServiceRecord[], containers: ContainerSummary[], settings: Settings, hostId: string): ServiceRow[] {
  const byId = new Map(containers.map((container) => [container.Id, container]))
  const rows: ServiceRow[] = records.map((record) => {
    const port = record.ports[0]
    let problem: string | null = null
    if (record.hostId === hostId) {
      const container = byId.get(record.containerId)
      const running = container?.State === 'running'
      if (!container) problem = 'container is gone (agent not caught up)'
      else if (running !== (record.state !== 'stopped')) problem = `docker says ${container.State}`
    }
    return {
      backend: port && port.port > 0 ? `${port.address}:${port.port}` : '-',
      container: record.containerName,
      host: record.hostName,
      name: record.name,
      problem,
      state: record.state,
      url: `http://${record.name}.${settings.domain}/`,
    }
  })
  const registered = new Set(records.map((record) => record.containerId))
  for (const container of containers) {
    const name = container.Labels[SERVICE]
    if (!name || registered.has(container.Id)) continue
    rows.push({
      backend: '-',
      container: displayName(container),
      host: '(this host)',
      name,
      problem: isDnsLabel(name) ? 'not registered (agent down or behind?)' : 'never routed: the name is not a DNS label',
      state: container.State,
      url: `http://${name}.${settings.domain}/`,
    })
  }
  return rows.sort((a, b) => a.name.localeCompare(b.name) || a.container.localeCompare(b.container))
}

/** `highway ls`: every record in the registry, joined with this host's labelled containers. */
export async function listServices(clients: Clients, settings: Settings): Promise<ServiceRow[]> {
  if (!settings.bridgeIp) throw new UserError('highway is not set up on this host', {suggestion: 'run `highway up` first'})
  const docker = await clients.docker()
  const registry = clients.registry(settings)
  const [{records}, containers] = await Promise.all([
    registry.listServices().catch((error) => {
      throw unreachable(registry.endpoints, error)
    }),
    docker.containers.list([SERVICE]),
  ])
  return serviceRows([...records.values()], containers, settings, settings.hostId ?? '')
}
