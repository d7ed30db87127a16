import type {ReadClients} from '../clients.js'
import {COMPONENT, COMPONENTS, type Component} from '../core/labels.js'
import {etcdEndpoints, hostSideIp} from '../core/settings.js'
import {DEFAULT_SETTINGS, type AgentReport, type Settings} from '../core/types.js'
import {displayName} from '../docker/summary.js'
import {probeForwarder, probeProxy} from '../proxy/client.js'
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

export interface MemberStatus {
  name: string
  id: string
  clientUrls: string[]
  peerUrls: string[]
  leader: boolean
  learner: boolean
  /** What its own /health said, asked at its first client URL from this host. */
  health: string
  ok: boolean
}

/** The registry as a cluster: its members, who leads, and the lease that holds this host's records. */
export interface ClusterView {
  members: MemberStatus[]
  /** etcd's lease: seconds left and granted, shorter than the host's TTL by what expiry takes (src/registry/held-keys.ts). */
  lease: {id: string; ttl: number; grantedTtl: number} | null
}

export interface Status {
  domain: string
  bridgeIp: string
  /** Where other hosts reach this one, '' when none does. */
  advertiseIp: string
  hostId: string
  /** The promise the lease keeps (`up --lease-ttl`): a dead host's routes leave the other proxies within it. */
  leaseTtl: number
  components: ComponentStatus[]
  agent: (AgentReport & {reportAgeMs: number}) | null
  /** null when etcd did not answer (or is one of the user's own, without TLS). */
  cluster: ClusterView | null
}

/** The cluster as the registry lists it, each member's health asked of the member itself (`etcdHealth`, one request per URL). */
async function clusterView(clients: ReadClients, settings: Settings, etcdHealth: (url: string) => Promise<Health>): Promise<ClusterView | null> {
  let listed
  try {
    listed = await clients.registry(settings).clusterStatus(settings.hostId ?? '')
  } catch {
    // This host's own member down: ask the others alone (the client may keep trying the dead one first).
    if (!settings.etcdPeers?.length) return null
    try {
      listed = await clients.registry({...settings, etcdEndpoints: settings.etcdPeers}).clusterStatus(settings.hostId ?? '')
    } catch {
      return null
    }
  }
  const members = await Promise.all(
    listed.members.map(async (member): Promise<MemberStatus> => {
      // A member's client URL may be loopback on the host that runs it; from here, that is this host's own etcd.
      const url = member.clientUrls.find((candidate) => !candidate.includes('://127.0.0.1:')) ?? member.clientUrls[0]
      const answer = url ? await etcdHealth(url) : {health: 'not started', ok: false}
      return {...member, ...answer}
    }),
  )
  return {lease: listed.lease, members}
}

type Health = {health: string; ok: boolean}

async function health(probe: () => Promise<string>): Promise<Health> {
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
  const endpoints = etcdEndpoints(settings)
  const addresses: Record<Component, string> = {
    agent: 'docker socket',
    dns: `${settings.bridgeIp}:53`,
    etcd: [...endpoints, ...(settings.advertiseIp && settings.etcdEndpoints.length === 0 ? [`(others: ${settings.advertiseIp}:2379)`] : [])].join(','),
    proxy: `${settings.bridgeIp}:80`,
    tcp: settings.tcpRange ?? '',
  }
  // etcd's /health, asked once per URL: this host's member is both the etcd component and, in the cluster view, a member.
  const asked = new Map<string, Promise<Health>>()
  const etcdHealth = (url: string) => {
    if (!asked.has(url))
      asked.set(
        url,
        health(() => probeEtcd(url, clients.identity())),
      )
    return asked.get(url)!
  }
  const probes: Record<Exclude<Component, 'agent'>, () => Promise<Health>> = {
    // Where this host reaches them (the bridge, or the host-side address when the bridge is out of reach).
    dns: () => health(() => probeDns(hostSideIp(settings), settings.domain)),
    etcd: () => etcdHealth(endpoints[0]),
    proxy: () => health(() => probeProxy(hostSideIp(settings))),
    tcp: () => health(() => probeForwarder(settings)),
  }
  const secure = endpoints.some((endpoint) => endpoint.startsWith('https:'))
  const agentReport = async (): Promise<Status['agent']> => {
    const reports = await clients
      .registry(settings)
      .listAgents()
      .catch(() => [])
    const report = reports.find((candidate) => candidate.hostId === settings.hostId)
    return report ? {...report, reportAgeMs: report.lastReconcileAt ? Date.now() - Date.parse(report.lastReconcileAt) : -1} : null
  }
  // Asked while Docker answers, not after (status is asked at the prompt): etcd's
  // health, then, once it answers, the agent's report and the cluster view, together. What is
  // shown still follows the component's state below: a report read from an etcd whose container
  // is not running is not shown. Nothing here waits long on a stopped etcd: its port refuses.
  const early = etcdHealth(endpoints[0]).then((answer) =>
    answer.ok ? Promise.all([agentReport(), secure ? clusterView(clients, settings, etcdHealth) : null] as const) : null,
  )
  // Kept from being an unhandled rejection when it is not awaited below (only a certificate missing can reject it).
  early.catch(() => {})
  const docker = await clients.docker()
  // One listing of every component's container (and one look at their image's labels), each component's newest first.
  const managed = await listManaged(docker)
  const components = await Promise.all(
    COMPONENTS.filter((component) => component !== 'tcp' || settings.tcpRange).map(async (component): Promise<ComponentStatus> => {
      const container = managed.find((candidate) => candidate.Labels[COMPONENT] === component)
      const external = component === 'etcd' && settings.etcdEndpoints.length > 0
      const base = {address: addresses[component], component, container: container ? displayName(container) : null, image: container?.Image ?? null}
      if (!container && !external) return {...base, health: 'not running', ok: false, state: 'missing'}
      const running = container?.State === 'running' || external
      const answer = !running ? {health: 'not running', ok: false} : component === 'agent' ? {health: '', ok: true} : await probes[component]()
      return {...base, ...answer, state: container?.State ?? 'external'}
    }),
  )
  const etcdOk = components.find((status) => status.component === 'etcd')?.ok ?? false
  const registryUp = etcdOk || (settings.etcdPeers?.length ?? 0) > 0
  // etcd answered: the reads started above. This host's member down but others known: the cluster view from them.
  const read = etcdOk ? await early : null
  const agent = read ? read[0] : null
  const cluster = read ? read[1] : registryUp && secure ? await clusterView(clients, settings, etcdHealth) : null
  const agentStatus = components.find((status) => status.component === 'agent')!
  if (agentStatus.state === 'running') Object.assign(agentStatus, agentHealth(agent))
  return {
    advertiseIp: settings.advertiseIp ?? '',
    agent,
    bridgeIp: settings.bridgeIp,
    cluster,
    components,
    domain: settings.domain,
    hostId: settings.hostId ?? '',
    leaseTtl: settings.leaseTtl ?? DEFAULT_SETTINGS.leaseTtl!,
  }
}
