import type {ReadClients} from '../clients.js'
import {COMPONENTS, type Component} from '../core/labels.js'
import {etcdEndpoints} from '../core/settings.js'
import type {AgentReport, Settings} from '../core/types.js'
import {displayName} from '../docker/summary.js'
import {probeProxy} from '../proxy/client.js'
import {listManaged} from './containers.js'
import {probeDns, probeEtcd} from './probes.js'

export interface ComponentStatus {
  component: Component
  container: string | null
  state: string
  /** What a real request to it saw (for the agent, its own report), in a few words. */
  health: string
  /** False when the component is missing, not running, or its request failed. */
  ok: boolean
  address: string
  image: string | null
}

export interface Status {
  domain: string
  bridgeIp: string
  components: ComponentStatus[]
  agent: (AgentReport & {reportAgeMs: number}) | null
}

async function health(probe: () => Promise<string>): Promise<{health: string; ok: boolean}> {
  try {
    return {health: await probe(), ok: true}
  } catch (error) {
    return {health: `failing: ${(error as Error).message}`, ok: false}
  }
}

function agentHealth(agent: AgentReport | null): {health: string; ok: boolean} {
  if (!agent) return {health: 'no report in etcd', ok: false}
  const connected = (yes: boolean) => (yes ? 'connected' : 'DISCONNECTED')
  return {
    health: `docker ${connected(agent.dockerConnected)}, etcd ${connected(agent.etcdConnected)}, ${agent.routes} routes, last reconcile ${agent.lastReconcileAt ?? 'never'}`,
    ok: agent.dockerConnected && agent.etcdConnected,
  }
}

/** Each component's container state and the answer to one real request, plus the agent's own report. */
export async function collectStatus(clients: ReadClients, settings: Settings): Promise<Status> {
  const docker = await clients.docker()
  const endpoints = etcdEndpoints(settings)
  const addresses: Record<Component, string> = {
    agent: 'docker socket',
    dns: `${settings.bridgeIp}:53`,
    etcd: [...endpoints, ...(settings.advertiseIp && settings.etcdEndpoints.length === 0 ? [`(others: ${settings.advertiseIp}:2379)`] : [])].join(','),
    proxy: `${settings.bridgeIp}:80`,
  }
  const probes: Record<Exclude<Component, 'agent'>, () => Promise<string>> = {
    dns: () => probeDns(settings.bridgeIp, settings.domain),
    etcd: () => probeEtcd(endpoints[0], clients.identity()),
    proxy: () => probeProxy(settings.bridgeIp),
  }
  const components = await Promise.all(
    COMPONENTS.map(async (component): Promise<ComponentStatus> => {
      const [container] = await listManaged(docker, component)
      const external = component === 'etcd' && settings.etcdEndpoints.length > 0
      const base = {address: addresses[component], component, container: container ? displayName(container) : null, image: container?.Image ?? null}
      if (!container && !external) return {...base, health: 'not running', ok: false, state: 'missing'}
      const running = container?.State === 'running' || external
      const answer = !running ? {health: 'not running', ok: false} : component === 'agent' ? {health: '', ok: true} : await health(probes[component])
      return {...base, ...answer, state: container?.State ?? 'external'}
    }),
  )
  let agent: Status['agent'] = null
  if (components.find((status) => status.component === 'etcd')?.ok) {
    const reports = await clients
      .registry(settings)
      .listAgents()
      .catch(() => [])
    const report = reports.find((candidate) => candidate.hostId === settings.hostId)
    if (report) agent = {...report, reportAgeMs: report.lastReconcileAt ? Date.now() - Date.parse(report.lastReconcileAt) : -1}
  }
  const agentStatus = components.find((status) => status.component === 'agent')!
  if (agentStatus.state === 'running') Object.assign(agentStatus, agentHealth(agent))
  return {agent, bridgeIp: settings.bridgeIp, components, domain: settings.domain}
}
