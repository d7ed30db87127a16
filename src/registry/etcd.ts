import {randomBytes} from 'node:crypto'
import {ConsecutiveBreaker, circuitBreaker, handleWhen, noop} from 'cockatiel'
import {Etcd3, Range, isRecoverableError, type IKeyValue} from 'etcd3'
import type {AgentReport} from '../core/types.js'
import {ROOT_USER, hostGrants, hostUser} from './access.js'
import {LOOPBACK_ETCD_URL} from '../core/settings.js'
import {AGENT_ETCD_URL, ETCD_SERVER_NAME, type TlsIdentity} from './pki.js'
import {
  agentReports,
  clusterStatusOf,
  memberOf,
  serviceListing,
  watchEvent,
  type ClusterStatus,
  type EtcdMember,
  type RegistryAdmin,
  type RegistryClient,
  type RegistryLease,
  type ServiceEvent,
  type ServiceListing,
  type ServiceWatch,
} from './registry.js'
import {HOSTS, agentKey, type CheckContext} from './schema.js'

/**
 * The registry on etcd: the only module that knows etcd3 (npm), so it can be swapped for etcd's
 * JSON gateway or raw gRPC without touching callers. etcd3 sets no deadlines and no keepalive by
 * default; both are set here so a dead etcd surfaces as an error instead of a hang.
 */
export interface EtcdOptions {
  endpoints: string[]
  /** Deadline for each call, in ms. */
  callTimeout: number
  /** This host's bridge IP: records pointing at highway's own listeners there are invalid (see checkRecord). */
  bridgeIp?: string
  /** This host's advertise address and id: see CheckContext. */
  advertiseIp?: string
  hostId?: string
  /** Mutual TLS: the CA that signed etcd's certificate, and this client's own (its CN is the etcd user). */
  tls?: TlsIdentity
}

/**
 * How often the client pings its etcd (gRPC keepalive). A member that vanished without closing (its
 * host cut off) must be noticed, and its watch moved to another member, well within a lease TTL: a ping
 * every second, given up after another. highway's etcd allows that (--grpc-keepalive-min-time); one of
 * the user's own keeps etcd's floor of 5 s (a faster ping would be answered with GOAWAY). This host's
 * own member alone, no other host involved (no advertise address), cannot vanish while this host runs
 * without its connections closing, so there every ping is idle cost: a ping every second cost the
 * agent about 0.04% of a core and etcd 0.06% (each wakes Go's runtime over and over). One every 30 s
 * is left only for a connection nothing else would find dead.
 */
export function pingEveryMs(options: Pick<EtcdOptions, 'advertiseIp' | 'endpoints' | 'tls'>): number {
  if (!options.tls) return 5000
  const thisHostsOwn = options.endpoints.every((endpoint) => endpoint === LOOPBACK_ETCD_URL || endpoint === AGENT_ETCD_URL)
  return thisHostsOwn && !options.advertiseIp ? 30_000 : 1000
}

export class EtcdRegistry implements RegistryClient, RegistryAdmin {
  readonly endpoints: string[]
  private readonly client: Etcd3
  private readonly check: CheckContext

  constructor(options: EtcdOptions) {
    this.endpoints = options.endpoints
    this.check = {advertiseIp: options.advertiseIp, bridgeIp: options.bridgeIp, localHostId: options.hostId}
    const {tls} = options
    this.client = new Etcd3({
      hosts: options.endpoints,
      ...(tls && {credentials: {certChain: Buffer.from(tls.cert), privateKey: Buffer.from(tls.key), rootCertificate: Buffer.from(tls.ca)}}),
      dialTimeout: options.callTimeout,
      defaultCallOptions: (context) =>
        // Watches and lease keepalives are streams that must outlive any deadline.
        context.isStream ? {} : {deadline: Date.now() + options.callTimeout},
      faultHandling: {
        host: () =>
          options.endpoints.length > 1
            ? // A member that failed once is passed over for 5 s: a watch leaving a member whose host was cut
              // off would otherwise pick among all members again, and a stream opened on that one waits for
              // its TCP connect, which only the kernel gives up (tens of seconds), while the routes go stale.
              circuitBreaker(handleWhen(isRecoverableError), {breaker: new ConsecutiveBreaker(1), halfOpenAfter: 5000})
            : // One member has no other to pass to: etcd3's default breaker would make three failed calls
              // (etcd not started yet, or restarting) five seconds in which no call is even tried. `up`
              // after `down` asks a stopped etcd for its peers, best effort, then sets up its users.
              noop,
      },
      grpcOptions: {
        'grpc.keepalive_time_ms': pingEveryMs(options),
        'grpc.keepalive_timeout_ms': tls ? 1000 : 2000,
        'grpc.keepalive_permit_without_calls': 1,
        ...(tls && {'grpc.ssl_target_name_override': ETCD_SERVER_NAME}),
      },
    })
  }

  close(): void {
    this.client.close()
  }

  async grantHosts(hostIds: string[]): Promise<void> {
    const [roles, users] = await Promise.all([this.client.getRoles(), this.client.getUsers()])
    const hasRole = new Set(roles.map((role) => role.name))
    const hasUser = new Set(users.map((user) => user.name))
    // etcd wants a password on every user it creates; nobody ever uses it (the certificate's CN is the user).
    const ensureUser = async (name: string) => {
      if (!hasUser.has(name)) await this.client.user(name).create(randomBytes(32).toString('base64url'))
    }
    if (!hasRole.has(ROOT_USER)) await this.client.role(ROOT_USER).create()
    await ensureUser(ROOT_USER)
    // Granting a role or a permission again changes nothing: a bootstrap cut short is finished by the next one.
    await this.client.user(ROOT_USER).addRole(ROOT_USER)
    for (const hostId of hostIds) {
      const name = hostUser(hostId)
      const role = this.client.role(name)
      if (!hasRole.has(name)) await role.create()
      await role.grant(hostGrants(hostId).map(({permission, prefix}) => ({permission, range: Range.prefix(prefix)})))
      await ensureUser(name)
      await this.client.user(name).addRole(name)
    }
    // A no-op once on.
    await this.client.auth.authEnable({})
  }

  async members(): Promise<EtcdMember[]> {
    return (await this.client.cluster.memberList({linearizable: true})).members.map((member) => memberOf(member))
  }

  async addLearner(peerUrl: string): Promise<{added: EtcdMember; members: EtcdMember[]}> {
    const response = await this.client.cluster.memberAdd({isLearner: true, peerURLs: [peerUrl]})
    return {added: memberOf(response.member), members: response.members.map((member) => memberOf(member))}
  }

  async promote(id: string): Promise<void> {
    await this.client.cluster.memberPromote({ID: id})
  }

  async updatePeerUrls(id: string, peerUrls: string[]): Promise<void> {
    await this.client.cluster.memberUpdate({ID: id, peerURLs: peerUrls})
  }

  async removeMember(id: string): Promise<void> {
    await this.client.cluster.memberRemove({ID: id})
  }

  async clusterStatus(hostId: string): Promise<ClusterStatus> {
    const [status, listed, held] = await Promise.all([
      this.client.maintenance.status(),
      this.client.cluster.memberList({}),
      this.client.get(agentKey(hostId)).exec(),
    ])
    const leaseId = held.kvs[0]?.lease
    const lease = leaseId && leaseId !== '0' ? await this.client.leaseClient.leaseTimeToLive({ID: leaseId}) : null
    return clusterStatusOf({leader: status.leader, memberId: status.header.member_id}, listed.members, lease)
  }

  async listServices(): Promise<ServiceListing> {
    const response = await this.client.getAll().prefix(HOSTS).exec()
    const kvs = response.kvs.map((kv) => ({key: kv.key.toString(), modRevision: kv.mod_revision, value: kv.value.toString()}))
    return serviceListing(kvs, response.header.revision, this.check)
  }

  async listAgents(): Promise<AgentReport[]> {
    const values = await this.client.getAll().prefix(HOSTS).strings()
    return agentReports(Object.entries(values).map(([key, value]) => ({key, value})))
  }

  async get(key: string): Promise<string | null> {
    return this.client.get(key).string()
  }

  async delete(key: string): Promise<string> {
    return (await this.client.delete().key(key)).header.revision
  }

  lease(ttlSeconds: number): RegistryLease {
    const lease = this.client.lease(ttlSeconds)
    return {
      grant: async () => {
        await lease.grant()
      },
      onLost: (listener) => lease.on('lost', listener),
      put: async (key, value) => (await lease.put(key).value(value)).header.revision,
      revoke: async () => {
        await lease.revoke()
      },
    }
  }

  // etcd3 reconnects a watcher by itself, but a watch etcd cancels (compaction) errors and is never retried.
  async watchServices(fromRevision: string, onEvent: (event: ServiceEvent) => void, onBroken: (error: Error) => void): Promise<ServiceWatch> {
    // Agent reports share the hosts' prefix (one writable range per host): only service keys and probes are events.
    const watcher = await this.client.watch().prefix(HOSTS).startRevision(fromRevision).create()
    const on = (kv: IKeyValue, deleted: boolean) => {
      const event = watchEvent(kv.key.toString(), deleted ? null : kv.value.toString(), kv.mod_revision, this.check)
      if (event) onEvent(event)
    }
    watcher.on('put', (kv) => on(kv, false))
    watcher.on('delete', (kv) => on(kv, true))
    watcher.on('error', (error) => onBroken(error))
    return {cancel: () => watcher.cancel()}
  }
}
