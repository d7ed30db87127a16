import type Docker from 'dockerode'
import {COMPONENTS, type Component} from '../core/labels.js'
import type {AgentReport, Settings} from '../core/types.js'
import {listManaged} from '../docker/client.js'
import {Registry} from '../registry/etcd.js'
import {etcdEndpoints, etcdUrl} from './components.js'
import {probeDns, probeEtcd, probeProxy} from './probes.js'

export interface ComponentStatus {
  component: Component
  container: string | null
  state: string
  health: string
  address: string
  image: string | null
}

export interface Status {
  domain: string
  bridgeIp: string
  components: ComponentStatus[]
  agent: (AgentReport & {reportAgeMs: number}) | null
}

async function health(probe: () => Promise<string>): Promise<string> {
  try {
    return await probe()
  } catch (error) {
    return `failing: ${(error as Error).message}`
  }
}

/** Each component's container state and the answer to one real request, plus the agent's own report. */
export async function collectStatus(docker: Docker, settings: Settings, hostId: string): Promise<Status> {
  const addresses: Record<Component, string> = {
    agent: 'docker socket',
    dns: `${settings.bridgeIp}:53`,
    etcd: etcdEndpoints(settings).join(','),
    proxy: `${settings.bridgeIp}:80`,
  }
  const probes: Record<Component, () => Promise<string>> = {
    agent: async () => 'see agent report',
    dns: () => probeDns(settings.bridgeIp, settings.domain),
    etcd: () => probeEtcd(settings.etcdEndpoints[0] ?? etcdUrl(settings)),
    proxy: () => probeProxy(settings.bridgeIp),
  }
  const components = await Promise.all(
    COMPONENTS.map(async (component): Promise<ComponentStatus> => {
      const [container] = await listManaged(docker, component)
      const external = component === 'etcd' && settings.etcdEndpoints.length > 0
      if (!container && !external) {
        return {address: addresses[component], component, container: null, health: 'not running', image: null, state: 'missing'}
      }
      return {
        address: addresses[component],
        component,
        container: container?.Names[0]?.replace(/^\//, '') ?? null,
        health: container?.State === 'running' || external ? await health(probes[component]) : 'not running',
        image: container?.Image ?? null,
        state: container?.State ?? 'external',
      }
    }),
  )
  let agent: Status['agent'] = null
  if (components.find((status) => status.component === 'etcd')?.health === 'healthy') {
    const registry = new Registry({callTimeout: 2000, endpoints: etcdEndpoints(settings)})
    try {
      const report = (await registry.listAgents()).find((candidate) => candidate.hostId === hostId)
      if (report) agent = {...report, reportAgeMs: report.lastReconcileAt ? Date.now() - Date.parse(report.lastReconcileAt) : -1}
    } catch {
      agent = null
    } finally {
      registry.close()
    }
  }
  const agentStatus = components.find((status) => status.component === 'agent')!
  if (agentStatus.state === 'running') {
    agentStatus.health = agent
      ? `docker ${agent.dockerConnected ? 'connected' : 'DISCONNECTED'}, etcd ${agent.etcdConnected ? 'connected' : 'DISCONNECTED'}, ${agent.routes} routes, last reconcile ${agent.lastReconcileAt ?? 'never'}`
      : 'no report in etcd'
  }
  return {agent, bridgeIp: settings.bridgeIp, components, domain: settings.domain}
}
