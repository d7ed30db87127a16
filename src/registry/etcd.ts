import {Etcd3, type IKeyValue, type Lease, type Watcher} from 'etcd3'
import {EventEmitter} from 'node:events'
import {UserError} from '../core/errors.js'
import {backoff} from '../core/wait.js'
import type {AgentReport, ServiceRecord} from '../core/types.js'
import {AGENTS, SERVICES, parseAgentReport, parseRecord} from './schema.js'

/**
 * highway's registry: the only module that knows etcd3 (npm), so it can be swapped for etcd's JSON
 * gateway or raw gRPC without touching callers. etcd3 sets no deadlines and no keepalive by default;
 * both are set here so a dead etcd surfaces as an error instead of a hang.
 */
export interface RegistryOptions {
  endpoints: string[]
  /** Deadline for each call, in ms. */
  callTimeout?: number
}

/** A change under the services prefix; `revision` is etcd's revision of that change. */
export type ServiceEvent = {type: 'put'; key: string; record: ServiceRecord; revision: string} | {type: 'delete'; key: string; revision: string}

export class Registry {
  readonly client: Etcd3
  readonly endpoints: string[]
  private readonly callTimeout: number

  constructor(options: RegistryOptions) {
    this.endpoints = options.endpoints
    this.callTimeout = options.callTimeout ?? 5000
    this.client = new Etcd3({
      hosts: options.endpoints,
      dialTimeout: this.callTimeout,
      defaultCallOptions: (context) =>
        // Watches and lease keepalives are streams that must outlive any deadline.
        context.isStream ? {} : {deadline: Date.now() + this.callTimeout},
      grpcOptions: {
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 5000,
        'grpc.keepalive_permit_without_calls': 1,
      },
    })
  }

  close(): void {
    this.client.close()
  }

  /** Every service record and the revision they were read at (watch from revision + 1). */
  async listServices(): Promise<{records: Map<string, ServiceRecord>; revision: string}> {
    const response = await this.client.getAll().prefix(SERVICES).exec()
    const records = new Map<string, ServiceRecord>()
    for (const kv of response.kvs) {
      const key = kv.key.toString()
      const record = parseRecord(key, kv.value.toString())
      if (record) records.set(key, record)
    }
    return {records, revision: response.header.revision}
  }

  async listAgents(): Promise<AgentReport[]> {
    const values = await this.client.getAll().prefix(AGENTS).strings()
    return Object.values(values).flatMap((value) => parseAgentReport(value) ?? [])
  }

  async put(key: string, value: string): Promise<void> {
    await this.client.put(key).value(value)
  }

  /** Returns the revision of the delete. */
  async delete(key: string): Promise<string> {
    return (await this.client.delete().key(key)).header.revision
  }

  /**
   * Watches the services prefix from `fromRevision`. etcd3 reconnects a watcher by itself, but a
   * watch etcd cancels (compaction) errors and is never retried: `onBroken` then re-lists.
   */
  async watchServices(fromRevision: string, onEvent: (event: ServiceEvent) => void, onBroken: (error: Error) => void): Promise<Watcher> {
    const watcher = await this.client.watch().prefix(SERVICES).startRevision(fromRevision).create()
    const toEvent = (kv: IKeyValue, type: 'delete' | 'put'): ServiceEvent | null => {
      const key = kv.key.toString()
      const revision = kv.mod_revision
      if (type === 'delete') return {key, revision, type}
      const record = parseRecord(key, kv.value.toString())
      return record ? {key, record, revision, type} : null
    }
    watcher.on('put', (kv) => {
      const event = toEvent(kv, 'put')
      if (event) onEvent(event)
    })
    watcher.on('delete', (kv) => onEvent(toEvent(kv, 'delete')!))
    watcher.on('error', (error) => onBroken(error))
    return watcher
  }
}

/**
 * Keys held under one lease: if the holder dies they expire with it (no stale routes from a dead
 * host). After `lost` etcd3's lease is gone for good, so a new one is granted and every held key
 * put again.
 */
export class HeldKeys extends EventEmitter {
  private lease: Lease | undefined
  private readonly values = new Map<string, string>()
  private regranting: Promise<void> | undefined

  constructor(
    private readonly registry: Registry,
    private readonly ttlSeconds = 10,
  ) {
    super()
  }

  private current(): Lease {
    if (!this.lease) {
      const lease = this.registry.client.lease(this.ttlSeconds)
      lease.on('lost', (error) => {
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
        await Promise.all([...this.values].map(([key, value]) => lease.put(key).value(value)))
        this.emit('regranted', this.values.size)
        return
      } catch (error) {
        this.emit('error', error)
        await backoff(attempt)
      }
    }
  }

  keys(): string[] {
    return [...this.values.keys()]
  }

  has(key: string): boolean {
    return this.values.has(key)
  }

  /** Returns the revision of the put. */
  async put(key: string, value: string): Promise<string> {
    this.values.set(key, value)
    return (await this.current().put(key).value(value)).header.revision
  }

  /** Returns the revision of the delete. */
  async delete(key: string): Promise<string> {
    this.values.delete(key)
    return this.registry.delete(key)
  }

  /** Revokes the lease: every held key disappears at once (a clean agent shutdown). */
  async release(): Promise<void> {
    const lease = this.lease
    this.lease = undefined
    this.values.clear()
    await lease?.revoke().catch(() => {})
  }
}

/** One line for a command to show when etcd does not answer. */
export function unreachable(endpoints: string[], error: unknown): UserError {
  return new UserError(`cannot reach etcd at ${endpoints.join(', ')} (${(error as Error).message})`, {
    suggestion: 'run `highway up` (or `highway status` to see which component is down)',
    cause: error,
  })
}
