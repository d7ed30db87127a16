import type {AgentReport, ServiceRecord} from '../core/types.js'

/**
 * The etcd key schema, versioned under one prefix so a future layout can live beside this one:
 *
 *   /highway/v1/services/<name>/<hostId>/<containerId>  -> ServiceRecord (JSON), held by the agent's lease
 *   /highway/v1/agents/<hostId>                          -> AgentReport (JSON), held by the agent's lease
 *
 * One record per container, so the same name on several containers or hosts becomes several servers
 * of one backend, and a dead host's records vanish with its lease.
 */
export const ROOT = '/highway/v1/'
export const SERVICES = `${ROOT}services/`
export const AGENTS = `${ROOT}agents/`

export function serviceKey(record: Pick<ServiceRecord, 'containerId' | 'hostId' | 'name'>): string {
  return `${SERVICES}${record.name}/${record.hostId}/${record.containerId}`
}

export function agentKey(hostId: string): string {
  return `${AGENTS}${hostId}`
}

export function parseServiceKey(key: string): {containerId: string; hostId: string; name: string} | null {
  if (!key.startsWith(SERVICES)) return null
  const parts = key.slice(SERVICES.length).split('/')
  if (parts.length !== 3 || parts.some((part) => part.length === 0)) return null
  const [name, hostId, containerId] = parts
  return {containerId, hostId, name}
}

export function parseRecord(key: string, value: string): ServiceRecord | null {
  const parsed = parseServiceKey(key)
  if (!parsed) return null
  try {
    const record = JSON.parse(value) as ServiceRecord
    // A record must agree with its key: a host's agent deletes its own orphans by the hostId inside.
    if (record.schema !== 2 || record.name !== parsed.name || record.containerId !== parsed.containerId || record.hostId !== parsed.hostId) return null
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
