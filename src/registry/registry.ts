import {UserError} from '../core/errors.js'
import type {AgentReport, ServiceRecord} from '../core/types.js'
import {checkRecord, inServiceRange, parseAgentKey, parseAgentReport, parseProbe, parseProbeKey, type CheckContext, type Probe} from './schema.js'

/**
 * What highway needs of its registry: list at a revision, watch from the next one, writes held by
 * a lease, and the agents' reports. `etcd.ts` implements it on etcd (the only etcd3 importer); the
 * agent's unit tests run against an in-memory fake of exactly this.
 */

/** A key under the services prefix whose value is not a well-formed record (see checkRecord), and why. */
export interface InvalidRecord {
  key: string
  reason: string
  /** etcd's revision of the bad value: the same bad value is reported once, a new one again. */
  revision: string
}

/**
 * A change under the services prefix; `revision` is etcd's revision of that change. A put of a
 * value that is not a well-formed record arrives as `invalid`: for routing it removes the key.
 */
export type RecordEvent =
  {type: 'put'; key: string; record: ServiceRecord; revision: string} | {type: 'delete'; key: string; revision: string} | ({type: 'invalid'} & InvalidRecord)

/** A host's probe put (`probe`: what to dial) or gone (null; a malformed one counts as gone): see infra/reach.ts. */
export interface ProbeEvent {
  type: 'probe'
  key: string
  hostId: string
  probe: Probe | null
  revision: string
}

export type ServiceEvent = RecordEvent | ProbeEvent

export interface ServiceWatch {
  cancel(): Promise<void>
}

/**
 * A lease: keys put through it vanish when it expires. Once `lost` fires the lease is gone for good
 * (etcd3's semantics): a new one must be granted and the keys put again (see HeldKeys).
 */
export interface RegistryLease {
  grant(): Promise<void>
  /** Returns the revision of the put. */
  put(key: string, value: string): Promise<string>
  revoke(): Promise<void>
  onLost(listener: (error: Error) => void): void
}

export interface ServiceListing {
  records: Map<string, ServiceRecord>
  invalid: InvalidRecord[]
  /** Other hosts' probes waiting for an answer (well-formed ones). */
  probes?: Probe[]
  revision: string
}

export interface RegistryClient {
  readonly endpoints: string[]
  /**
   * Every well-formed service record, every key whose value is not one (never thrown: one bad
   * record must not hide the others), and the revision they were read at (watch from revision + 1).
   */
  listServices(): Promise<ServiceListing>
  /**
   * Watches the services prefix from `fromRevision`. A watch the registry cancels (compaction)
   * calls `onBroken` once and is not retried: list again, then watch from that revision + 1.
   */
  watchServices(fromRevision: string, onEvent: (event: ServiceEvent) => void, onBroken: (error: Error) => void): Promise<ServiceWatch>
  /** Every well-formed agent report; a malformed one is left out. */
  listAgents(): Promise<AgentReport[]>
  lease(ttlSeconds: number): RegistryLease
  /** The cluster's members and its leader, as the member that answers sees them (any etcd user may ask). */
  clusterStatus(hostId: string): Promise<ClusterStatus>
  /** Returns the revision of the delete. */
  delete(key: string): Promise<string>
  /** One key's value, or null when it is not there. */
  get(key: string): Promise<string | null>
  close(): void
}

/** Deadline of every registry call. A refused connection fails at once; this bounds a hung one. */
export const REGISTRY_CALL_TIMEOUT_MS = 3000

/** What reading the registry needs (`ls`, `status`): the listings and the cluster's status, nothing that writes or watches. */
export type RegistryReader = Pick<RegistryClient, 'endpoints' | 'listServices' | 'listAgents' | 'clusterStatus'>

/**
 * What bootstrapping and adding hosts need of the registry, with its root identity: nothing else uses it.
 * See access.ts for the users and what each may do.
 */
/** One member of the etcd cluster, as etcd's member API lists it. */
export interface EtcdMember {
  id: string
  /** '' until the member has started. */
  name: string
  peerUrls: string[]
  clientUrls: string[]
  learner: boolean
}

/** What `status` shows of the cluster: its members, who leads, and per member whether it answered. */
export interface ClusterStatus {
  members: Array<EtcdMember & {leader: boolean}>
  /** The member that answered this client's status request (on a member host: its own, when it answers). */
  answeredBy: string
  /** The lease holding the given host's records: seconds left of its TTL, or null when it holds nothing (no agent). */
  lease: {id: string; ttl: number; grantedTtl: number} | null
}

export interface RegistryAdmin {
  /**
   * Makes etcd's auth what access.ts says for these hosts: role and user root, a role and a user per
   * host, then auth on. Idempotent: running it again, or after a run cut short, ends in the same state.
   */
  grantHosts(hostIds: string[]): Promise<void>
  /** etcd's member API (root only): list, add a learner (no vote until promoted, so a failed join costs no quorum), promote, update, remove. */
  members(): Promise<EtcdMember[]>
  addLearner(peerUrl: string): Promise<{added: EtcdMember; members: EtcdMember[]}>
  promote(id: string): Promise<void>
  updatePeerUrls(id: string, peerUrls: string[]): Promise<void>
  removeMember(id: string): Promise<void>
  close(): void
}

/** A member as etcd's Cluster API sends it (rpc.proto's Member; IDs are uint64, as decimal text). */
export interface WireMember {
  ID: string
  name: string
  peerURLs: string[]
  clientURLs: string[]
  isLearner?: boolean
}

export function memberOf(member: WireMember): EtcdMember {
  return {clientUrls: member.clientURLs ?? [], id: member.ID, learner: Boolean(member.isLearner), name: member.name, peerUrls: member.peerURLs ?? []}
}

/**
 * `clusterStatus` from etcd's three answers, whichever client asked them (etcd.ts through etcd3,
 * grpc-range.ts on raw HTTP/2): who answered and who leads (Maintenance/Status), the members
 * (Cluster/MemberList), and the lease holding the host's agent report (Lease/LeaseTimeToLive; null: none).
 */
export function clusterStatusOf(
  status: {leader: string; memberId: string},
  members: WireMember[],
  lease: {ID: string; TTL: string; grantedTTL: string} | null,
): ClusterStatus {
  return {
    answeredBy: status.memberId,
    lease: lease ? {grantedTtl: Number(lease.grantedTTL), id: lease.ID, ttl: Number(lease.TTL)} : null,
    members: members.map((member) => ({...memberOf(member), leader: member.ID === status.leader})),
  }
}

/** The one line for a host that has no certificate for the registry yet, whichever client was to use it. */
export const noIdentity = (who: string) =>
  new UserError(`this host has no ${who} certificate for the registry`, {
    suggestion: 'run `highway up` (on a host that uses another host’s etcd: `highway up --join FILE`)',
  })

/**
 * Why a connection to etcd failed, in the connection's own words whichever client met it: gRPC-js
 * (etcd3) wraps a refused connection as "14 UNAVAILABLE: No connection established. Last error:
 * Error: connect ECONNREFUSED ...", node's HTTP/2 (grpc-range.ts) reports the connect error itself.
 */
export function connectionFailure(error: unknown): string {
  const message = (error as Error).message
  return /Last error: (?:\w*Error: )?(.*?)\. Resolution note:/.exec(message)?.[1] ?? message
}

/** One line for a command to show when the registry does not answer. */
export function unreachable(endpoints: string[], error: unknown): UserError {
  return new UserError(`cannot reach etcd at ${endpoints.join(', ')} (${connectionFailure(error)})`, {
    suggestion: 'run `highway up` (or `highway status` to see which component is down)',
    cause: error,
  })
}

/** One key-value pair of a listing of the hosts' prefix, as text; the revision of its last change. */
export interface ListedKey {
  key: string
  value: string
  modRevision?: string
}

/** The service records among the hosts' keys (one bad value never hides the others), read at `revision`. */
export function serviceListing(kvs: Array<ListedKey & {modRevision: string}>, revision: string, check: CheckContext): ServiceListing {
  const records = new Map<string, ServiceRecord>()
  const invalid: InvalidRecord[] = []
  const probes: Probe[] = []
  for (const kv of kvs) {
    const prober = parseProbeKey(kv.key)
    const probe = prober && parseProbe(prober, kv.value)
    if (probe) probes.push(probe)
    // Agent reports and probes share the hosts' prefix: only keys in a services range are records.
    if (!inServiceRange(kv.key)) continue
    const checked = checkRecord(kv.key, kv.value, check)
    if (checked.ok) records.set(kv.key, checked.record)
    else invalid.push({key: kv.key, reason: checked.reason, revision: kv.modRevision})
  }
  return {invalid, probes, records, revision}
}

/** What a change under the hosts' prefix means to a watcher (null: nothing, an agent report for one), whichever registry saw it. */
export function watchEvent(key: string, value: string | null, revision: string, check: CheckContext): ServiceEvent | null {
  const prober = parseProbeKey(key)
  if (prober) return {hostId: prober, key, probe: value === null ? null : parseProbe(prober, value), revision, type: 'probe'}
  if (!inServiceRange(key)) return null
  if (value === null) return {key, revision, type: 'delete'}
  const checked = checkRecord(key, value, check)
  return checked.ok ? {key, record: checked.record, revision, type: 'put'} : {key, reason: checked.reason, revision, type: 'invalid'}
}

/** The well-formed agent reports among the hosts' keys; a report's own check makes sure it names the host whose key holds it. */
export function agentReports(kvs: ListedKey[]): AgentReport[] {
  return kvs.flatMap(({key, value}) => (parseAgentKey(key) ? (parseAgentReport(value, key) ?? []) : []))
}
