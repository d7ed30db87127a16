import type {AgentReport, ServiceRecord} from '../core/types.js'

/**
 * The etcd key schema, versioned under one prefix so a future layout can live beside this one:
 *
 *   /highway/v2/hosts/<hostId>/services/<name>/<containerId>  -> ServiceRecord (JSON), held by the agent's lease
 *   /highway/v2/hosts/<hostId>/agent                           -> AgentReport (JSON), held by the agent's lease
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

/** The host whose report this key holds, or null when it is not an agent report's key. */
export function parseAgentKey(key: string): string | null {
  const parts = hostKeyParts(key)
  return parts && parts.length === 2 && parts[1] === 'agent' ? parts[0] : null
}

export function parseRecord(key: string, value: string): ServiceRecord | null {
  const parsed = parseServiceKey(key)
  if (!parsed) return null
  try {
    const record = JSON.parse(value) as ServiceRecord
    // A record must agree with its key: a host's agent deletes its own orphans by the hostId inside.
    if (record.schema !== 1 || record.name !== parsed.name || record.containerId !== parsed.containerId || record.hostId !== parsed.hostId) return null
    return record
  } catch {
    return null
  }
}

export function parseAgentReport(value: string): AgentReport | null {
  try {
    const report = JSON.parse(value) as AgentReport
    return report.schema === 1 ? report : null
  } catch {
    return null
  }
}
