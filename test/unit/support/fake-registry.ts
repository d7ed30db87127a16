import type {AgentReport, ServiceRecord} from '../../../src/core/types.js'
import {
  serviceListing,
  watchEvent,
  type ClusterStatus,
  type RegistryClient,
  type RegistryLease,
  type ServiceEvent,
  type ServiceListing,
  type ServiceWatch,
} from '../../../src/registry/registry.js'
import {checkRecord, inServiceRange, parseAgentKey, parseAgentReport, type CheckContext} from '../../../src/registry/schema.js'

/**
 * An in-memory registry with etcd's semantics where the agent depends on them: one revision
 * counter for every change, list at a revision, watch from a revision (with replay), leases whose
 * keys vanish when they are lost, and watches cancelled by compaction. A fake, because the faults
 * the agent must survive (a lease lost at a chosen moment, a watch cancelled, an echo delivered
 * late) cannot be caused on purpose against a real etcd; the e2e suite runs the real one.
 */
interface Entry {
  value: string
  lease: FakeLease | null
  revision: bigint
}

interface Watch {
  from: bigint
  onEvent: (event: ServiceEvent) => void
  onBroken: (error: Error) => void
  cancelled: boolean
}

export class FakeLease implements RegistryLease {
  granted = false
  revoked = false
  lostAlready = false
  private readonly listeners: Array<(error: Error) => void> = []

  constructor(
    private readonly registry: FakeRegistry,
    readonly ttlSeconds: number,
  ) {}

  async grant(): Promise<void> {
    if (this.registry.failGrants > 0) {
      this.registry.failGrants--
      throw new Error('etcd unavailable')
    }
    this.granted = true
  }

  async put(key: string, value: string): Promise<string> {
    // etcd3 grants a lease on its first use.
    if (!this.granted) await this.grant()
    if (this.lostAlready) throw new Error('lease lost')
    return this.registry.write(key, value, this)
  }

  async revoke(): Promise<void> {
    this.revoked = true
    this.registry.dropLeaseKeys(this)
  }

  onLost(listener: (error: Error) => void): void {
    this.listeners.push(listener)
  }

  /** The lease expired (etcd was away longer than its TTL): its keys are gone, as etcd does. */
  lose(): void {
    this.lostAlready = true
    this.registry.dropLeaseKeys(this)
    for (const listener of this.listeners) listener(new Error('lease expired'))
  }
}

export class FakeRegistry implements RegistryClient {
  readonly endpoints = ['fake://registry']
  private revision = 1n
  private readonly kv = new Map<string, Entry>()
  private readonly history: Array<{revision: bigint; key: string; value: string | null}> = []
  private watches: Watch[] = []
  readonly leases: FakeLease[] = []
  /** Grants that fail before one succeeds (etcd still away). */
  failGrants = 0
  /** Lists that fail before one succeeds. */
  failLists = 0
  /** While true, watch events queue up instead of being delivered: an echo that arrives late. */
  holdWatch = false
  private held: Array<() => void> = []
  closed = false

  /** Validates what it reads as EtcdRegistry does, with this host's bridge IP when given. */
  constructor(private readonly check: CheckContext = {}) {}

  /** One member, its own leader: the agent never asks; here for the interface. */
  async clusterStatus(): Promise<ClusterStatus> {
    return {answeredBy: '1', lease: null, members: [{clientUrls: this.endpoints, id: '1', leader: true, learner: false, name: 'fake', peerUrls: []}]}
  }

  /** A non-leased write, as another host (or a person with etcdctl) would make. */
  async putRaw(key: string, value: string): Promise<string> {
    return this.write(key, value, null)
  }

  write(key: string, value: string, lease: FakeLease | null): string {
    this.revision++
    this.kv.set(key, {lease, revision: this.revision, value})
    this.record(key, value)
    return String(this.revision)
  }

  async get(key: string): Promise<string | null> {
    return this.kv.get(key)?.value ?? null
  }

  async delete(key: string): Promise<string> {
    this.revision++
    if (this.kv.delete(key)) this.record(key, null)
    return String(this.revision)
  }

  dropLeaseKeys(lease: FakeLease): void {
    for (const [key, entry] of [...this.kv]) {
      if (entry.lease !== lease) continue
      this.revision++
      this.kv.delete(key)
      this.record(key, null)
    }
  }

  private record(key: string, value: string | null): void {
    const change = {key, revision: this.revision, value}
    this.history.push(change)
    for (const watch of this.watches) this.deliver(watch, change)
  }

  private deliver(watch: Watch, change: {revision: bigint; key: string; value: string | null}): void {
    if (watch.cancelled || change.revision < watch.from) return
    const event = watchEvent(change.key, change.value, String(change.revision), this.check)
    if (!event) return
    const send = () => {
      if (!watch.cancelled) watch.onEvent(event)
    }
    if (this.holdWatch) this.held.push(send)
    else queueMicrotask(send)
  }

  /** Delivers every queued watch event, in order, and stops holding them. */
  releaseWatch(): void {
    this.holdWatch = false
    const queued = this.held
    this.held = []
    for (const send of queued) send()
  }

  /** etcd cancels every watch (compaction past its revision): the watchers' onBroken is called. */
  cancelWatches(): void {
    const watches = this.watches
    this.watches = []
    for (const watch of watches) {
      watch.cancelled = true
      watch.onBroken(new Error('mvcc: required revision has been compacted'))
    }
  }

  async listServices(): Promise<ServiceListing> {
    if (this.failLists > 0) {
      this.failLists--
      throw new Error('etcd unavailable')
    }
    return serviceListing(
      [...this.kv].map(([key, {revision, value}]) => ({key, modRevision: String(revision), value})),
      String(this.revision),
      this.check,
    )
  }

  async watchServices(fromRevision: string, onEvent: (event: ServiceEvent) => void, onBroken: (error: Error) => void): Promise<ServiceWatch> {
    const watch: Watch = {cancelled: false, from: BigInt(fromRevision), onBroken, onEvent}
    this.watches.push(watch)
    for (const change of this.history) this.deliver(watch, change)
    return {
      cancel: async () => {
        watch.cancelled = true
        this.watches = this.watches.filter((candidate) => candidate !== watch)
      },
    }
  }

  async listAgents(): Promise<AgentReport[]> {
    return [...this.kv].flatMap(([key, {value}]) => (parseAgentKey(key) ? (parseAgentReport(value, key) ?? []) : []))
  }

  lease(ttlSeconds: number): FakeLease {
    const lease = new FakeLease(this, ttlSeconds)
    this.leases.push(lease)
    return lease
  }

  close(): void {
    this.closed = true
  }

  // ---- for assertions -----------------------------------------------------------------------

  get activeWatches(): number {
    return this.watches.filter((watch) => !watch.cancelled).length
  }

  /** Well-formed service records as stored, by key. */
  services(): Map<string, ServiceRecord> {
    const records = new Map<string, ServiceRecord>()
    for (const [key, {value}] of this.kv) {
      const check = inServiceRange(key) ? checkRecord(key, value, this.check) : null
      if (check?.ok) records.set(key, check.record)
    }
    return records
  }

  /** The raw value stored under a key, whatever it is. */
  raw(key: string): string | undefined {
    return this.kv.get(key)?.value
  }

  leaseOf(key: string): FakeLease | null | undefined {
    return this.kv.get(key)?.lease
  }
}
