import {EventEmitter} from 'node:events'
import {DEFAULT_SETTINGS} from '../core/types.js'
import {backoff} from '../core/wait.js'
import type {RegistryClient, RegistryLease} from './registry.js'

/** The lease's time to live: a dead host's routes are gone from every proxy within it. */
export const LEASE_TTL_SECONDS = DEFAULT_SETTINGS.leaseTtl!

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
