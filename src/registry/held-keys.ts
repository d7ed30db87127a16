import {EventEmitter} from 'node:events'
import {DEFAULT_SETTINGS} from '../core/types.js'
import {backoff} from '../core/wait.js'
import type {RegistryClient, RegistryLease} from './registry.js'

/** The TTL the user sets by default (`up --lease-ttl`): a dead host's routes are gone from every proxy within it. */
export const LEASE_TTL_SECONDS = DEFAULT_SETTINGS.leaseTtl!

/**
 * etcd's timers (ms) where other hosts may join: see the etcd component. `timerSlackMs`: how late
 * the kernel may run etcd's timers (PR_SET_TIMERSLACK), 0 for the kernel's own 50 µs.
 */
export const JOINABLE_RAFT = {electionMs: 1000, heartbeatMs: 100, timerSlackMs: 0}
/** etcd's timers (ms) where it is alone on this host. */
export const ALONE_RAFT = {electionMs: 500, heartbeatMs: 100, timerSlackMs: 100}
/** etcd's leader looks for expired leases every 500 ms (server/lease/lessor.go, runLoop), up to its timer slack late. */
const REVOKE_LOOP_MS = 500 + Math.max(JOINABLE_RAFT.timerSlackMs, ALONE_RAFT.timerSlackMs)
/** From etcd's revoke to every proxy: one raft commit, the watch's event, the agent's runtime update (tens of ms); a budget. */
const PROPAGATION_MS = 400

/**
 * The etcd lease that keeps the user's promise "a dead host's routes leave every proxy within
 * `ttlSeconds`". etcd expires a lease TTL after its last renewal, looks for expired ones every 500 ms,
 * and then the delete reaches the proxies. Where this host runs an etcd member (`electionMs`, the
 * cluster's election timeout), that member may be the leader and die with the host: the others elect
 * a new one after a randomised timeout of up to twice the election timeout, and the new leader starts
 * every lease afresh from its full TTL plus one election timeout (lessor Promote; checkpoints, which
 * would keep the time left, are only taken every 5 minutes in etcd 3.5, for leases longer than that).
 * So the lease is shorter than the promise by all of that; never below etcd's own floor (1.5 election
 * timeouts, rounded up: etcd raises a shorter grant silently), so `honoured` says whether it holds, and
 * `shortestSeconds` is the shortest TTL this host can keep.
 */
export function leaseFor(ttlSeconds: number, electionMs?: number): {grantSeconds: number; honoured: boolean; shortestSeconds: number} {
  const margin = Math.ceil(((electionMs ? 3 * electionMs : 0) + REVOKE_LOOP_MS + PROPAGATION_MS) / 1000)
  // A host without a member is a client of a cluster that other hosts joined: etcd's election timeout there.
  const floor = Math.max(1, Math.ceil((1.5 * (electionMs ?? JOINABLE_RAFT.electionMs)) / 1000))
  const wanted = ttlSeconds - margin
  return {grantSeconds: Math.max(floor, wanted), honoured: wanted >= floor, shortestSeconds: floor + margin}
}

/**
 * Keys held under one lease: if the holder dies they expire with it (no stale routes from a dead
 * host). After `lost` the lease is gone for good, so a new one is granted and every held key put
 * again. Emits 'lost' (the error), 'regranted' (how many keys were put again) and 'error'.
 */
export class HeldKeys extends EventEmitter {
  private lease: RegistryLease | undefined
  private readonly values = new Map<string, string>()
  private regranting: Promise<void> | undefined

  constructor(
    private readonly registry: RegistryClient,
    private readonly ttlSeconds = LEASE_TTL_SECONDS,
    private readonly pause: (attempt: number) => Promise<void> = backoff,
  ) {
    super()
  }

  private current(): RegistryLease {
    if (!this.lease) {
      const lease = this.registry.lease(this.ttlSeconds)
      lease.onLost((error) => {
        if (this.lease !== lease) return
        this.lease = undefined
        this.emit('lost', error)
        this.regranting ??= this.regrant().finally(() => (this.regranting = undefined))
      })
      this.lease = lease
    }
    return this.lease
  }

  private async regrant(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const lease = this.current()
        await lease.grant()
        await Promise.all([...this.values].map(([key, value]) => lease.put(key, value)))
        this.emit('regranted', this.values.size)
        return
      } catch (error) {
        this.emit('error', error)
        await this.pause(attempt)
      }
    }
  }

  has(key: string): boolean {
    return this.values.has(key)
  }

  /** Returns the revision of the put. */
  async put(key: string, value: string): Promise<string> {
    this.values.set(key, value)
    return this.current().put(key, value)
  }

  /** Returns the revision of the delete. */
  async delete(key: string): Promise<string> {
    this.values.delete(key)
    return this.registry.delete(key)
  }
}
