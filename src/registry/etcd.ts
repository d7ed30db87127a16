import {Etcd3, type IKeyValue} from 'etcd3'
import type {AgentReport, ServiceRecord} from '../core/types.js'
import type {InvalidRecord, RegistryClient, RegistryLease, ServiceEvent, ServiceListing, ServiceWatch} from './registry.js'
import {AGENTS, SERVICES, checkRecord, parseAgentReport, type CheckContext} from './schema.js'

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
}

export class EtcdRegistry implements RegistryClient {
  readonly endpoints: string[]
  private readonly client: Etcd3
  private readonly check: CheckContext

  constructor(options: EtcdOptions) {
    this.endpoints = options.endpoints
    this.check = {bridgeIp: options.bridgeIp}
    this.client = new Etcd3({
      hosts: options.endpoints,
      dialTimeout: options.callTimeout,
      defaultCallOptions: (context) =>
        // Watches and lease keepalives are streams that must outlive any deadline.
        context.isStream ? {} : {deadline: Date.now() + options.callTimeout},
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

  async listServices(): Promise<ServiceListing> {
    const response = await this.client.getAll().prefix(SERVICES).exec()
    const records = new Map<string, ServiceRecord>()
    const invalid: InvalidRecord[] = []
    for (const kv of response.kvs) {
      const key = kv.key.toString()
      const check = checkRecord(key, kv.value.toString(), this.check)
      if (check.ok) records.set(key, check.record)
      else invalid.push({key, reason: check.reason, revision: kv.mod_revision})
    }
    return {invalid, records, revision: response.header.revision}
  }

  async listAgents(): Promise<AgentReport[]> {
    const values = await this.client.getAll().prefix(AGENTS).strings()
    return Object.entries(values).flatMap(([key, value]) => parseAgentReport(value, key) ?? [])
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
    const watcher = await this.client.watch().prefix(SERVICES).startRevision(fromRevision).create()
    const toEvent = (kv: IKeyValue, type: 'delete' | 'put'): ServiceEvent => {
      const key = kv.key.toString()
      const revision = kv.mod_revision
      if (type === 'delete') return {key, revision, type}
      const check = checkRecord(key, kv.value.toString(), this.check)
      return check.ok ? {key, record: check.record, revision, type} : {key, reason: check.reason, revision, type: 'invalid'}
    }
    watcher.on('put', (kv) => onEvent(toEvent(kv, 'put')))
    watcher.on('delete', (kv) => onEvent(toEvent(kv, 'delete')))
    watcher.on('error', (error) => onBroken(error))
    return {cancel: () => watcher.cancel()}
  }
}
