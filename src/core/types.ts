import {DEFAULT_TCP_RANGE} from '../tcp/addresses.js'
/** What `highway up` was told, remembered for every later command and handed to the agent. */
export interface Settings {
  /** Names under this domain resolve to the bridge IP and are routed by the proxy. */
  domain: string
  /** The docker bridge gateway on this host: every highway listener binds here, never 0.0.0.0. */
  bridgeIp: string
  /** etcd client URLs; empty means the single-node etcd that `up` starts on this host. */
  etcdEndpoints: string[]
  /** DNS servers for names outside the domain; empty means the host's own (via Docker). */
  upstreamDns: string[]
  /** Base image the infrastructure image is built from. */
  baseImage: string
  /** Where other hosts reach this host's etcd ('' when no other host does): published there besides loopback. */
  advertiseIp?: string
  /**
   * This host's id in the registry (its keys, its etcd user `host-<id>`): random, made once by the
   * first `up` (or given by `up --join`). Not the Docker engine's ID, which cloned machines share.
   */
  hostId?: string
  /**
   * On a host whose etcd joined an existing cluster as a member (`up --join` with a member's file):
   * its member name and the cluster as it was when it joined (etcd reads both only on its first start).
   */
  etcdMember?: {name: string; initialCluster: string}
  /** Where this host runs etcd: the other members' client URLs, so its CLI and agent go on when its own member is down. */
  etcdPeers?: string[]
  /** The TTL of the lease that holds this host's records, in seconds: a dead host's routes leave the other proxies within it. */
  leaseTtl?: number
  /**
   * Where this host reaches highway's DNS and proxy when the bridge address is out of its reach
   * (Docker Desktop, rootless, a remote engine): '' when it reaches the bridge. Both are then also
   * published there, and names asked there answer this address (docker/reachability.ts).
   */
  hostIp?: string
  /**
   * Where names get addresses of their own for TCP (docs/architecture.md, "TCP by name"): a range
   * made local to this host, '' to turn TCP by name off. Absent in settings written before it existed.
   */
  tcpRange?: string
}

export const DEFAULT_SETTINGS: Settings = {
  domain: 'local',
  bridgeIp: '',
  etcdEndpoints: [],
  upstreamDns: [],
  baseImage: 'debian:trixie-slim',
  advertiseIp: '',
  hostId: '',
  etcdPeers: [],
  leaseTtl: 10,
  hostIp: '',
  tcpRange: DEFAULT_TCP_RANGE,
}

/** The ports highway's own components listen on, on the bridge address. */
export const INFRA_PORTS = {
  http: 80,
  dns: 53,
  etcd: 2379,
  /** etcd's peer listener, published on the advertise address where other members dial it. */
  etcdPeer: 2380,
} as const

/** `unhealthy`: running, but its Docker health check fails; it gets no traffic until it passes again. */
export type ServiceState = 'running' | 'stopped' | 'unhealthy'

export interface PublishedPort {
  /** Port inside the container, with protocol, as Docker writes it: "9090/tcp". */
  containerPort: string
  /** Address other hosts and the proxy use to reach it (on one host: the bridge IP). */
  address: string
  /** Host port Docker published it on; 0 while stopped. */
  port: number
}

/**
 * One container's registration, as stored in etcd (see registry/schema.ts for the keys).
 * Schema 2 added `createdAt` and `replica`: who owns a name is decided from them (agent/records.ts
 * `standings`), so a record without them cannot be read correctly and is not schema 2.
 */
export interface ServiceRecord {
  schema: 2
  name: string
  state: ServiceState
  ports: PublishedPort[]
  hostId: string
  hostName: string
  containerId: string
  containerName: string
  /** The container's address on Docker's default bridge, '' when not on it: the proxy on the same host connects there directly. */
  containerIp: string
  /**
   * When Docker created the container, UTC with nine fraction digits ("2026-11-27T09:14:03.118402711Z")
   * so that comparing the strings compares the times: the earliest running container owns the name.
   */
  createdAt: string
  /** Created to share the name's traffic on purpose (`--replica-of`, or the io.highway.replica-of label). */
  replica: boolean
  updatedAt: string
}

/** What the agent publishes about itself, read by `highway status`. */
export interface AgentReport {
  schema: 1
  hostId: string
  hostName: string
  startedAt: string
  lastReconcileAt: string | null
  dockerConnected: boolean
  etcdConnected: boolean
  routes: number
  proxyConfigHash: string | null
}
