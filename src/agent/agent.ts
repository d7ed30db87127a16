import {SERVICE} from '../core/labels.js'
import type {AgentReport, ServiceRecord} from '../core/types.js'
import {backoff} from '../core/wait.js'
import type {ContainerDetails, ContainerEvent, ContainerSummary, DockerClient, EventSubscription} from '../docker/types.js'
import {HeldKeys} from '../registry/held-keys.js'
import type {InvalidRecord, RecordEvent, RegistryClient, ServiceWatch} from '../registry/registry.js'
import {agentKey, recordProblem, serviceKey, shown} from '../registry/schema.js'
import {ProxySync} from './proxy-sync.js'
import {ReachAnswers} from './reach.js'
import {TcpSync} from './tcp-sync.js'
import {diffRecords, recordFromContainer, sameRecord, stoppedRecord, type HostInfo} from './records.js'

/** What the agent drives on the proxy side: ProxySync in production, a recorder in the agent's tests. */
export interface RouteTarget {
  /** Asks for the proxy to be brought to the current records; resolves once it has been. */
  schedule(): Promise<void>
  stop(): void
  readonly configHash: string | null
}

export interface AgentOptions {
  docker: Pick<DockerClient, 'containers' | 'events' | 'images'>
  registry: RegistryClient
  host: HostInfo
  domain: string
  /** Full reconcile period, in ms. */
  reconcileEvery?: number
  /** The TTL of the etcd lease that holds this host's records: shorter than the user's (leaseFor), so a dead host's routes leave every proxy within theirs. */
  leaseTtlSeconds?: number
  /**
   * An extra refresh of the agent's report in etcd, in ms; none by default: every reconcile (at
   * start, every `reconcileEvery`, after a reconnect) publishes it, and its lease keeps it alive between.
   */
  reportEvery?: number
  /** Builds the proxy side from a view of every host's records; default: ProxySync on HAProxy. */
  routes?: (records: () => ServiceRecord[]) => RouteTarget
  /** How long a container sent a stop signal stays out of the proxy while it still runs (default STOPPING_GRACE_MS). */
  stoppingGraceMs?: number
  /** The pause before reconnect attempt `attempt` (from 0); injectable so tests need not wait. */
  pause?: (attempt: number) => Promise<void>
  runDir?: string
  /** highway's address range for names (Settings.tcpRange): with it, names are also served by TCP on addresses of their own. */
  tcpRange?: string
  log?: (message: string) => void
}

// Not 'create': a created container is not running yet, and its 'start' follows. 'kill' is handled
// apart (see onDockerEvent): Docker holds the container's lock while stopping it, so an inspect then
// would wait and delay the 'die'.
const EVENT_ACTIONS = new Set(['start', 'restart', 'die', 'stop', 'destroy', 'pause', 'unpause', 'health_status', 'rename', 'update'])

/** Signals whose `kill` event means a stop under way: SIGINT, SIGQUIT, SIGKILL, SIGTERM (docker stop sends the container's stop signal). */
const STOP_SIGNALS = new Set([2, 3, 9, 15])
/** A container sent a stop signal that is still running this long after is routed again: it handled the signal and stayed. */
export const STOPPING_GRACE_MS = 30_000

/**
 * The route agent keeps three things equal: Docker's highway-labelled containers on this host, the
 * records in etcd, and the proxy's config.
 *
 * Docker -> etcd: subscribe to events first, then list and reconcile, so nothing falls in between;
 * each event re-inspects its container. A full reconcile runs periodically and after every reconnect.
 * etcd -> proxy: list at a revision, watch from revision + 1, re-list when the watch breaks.
 * Records are held by a lease: if this host dies, its routes expire with it.
 */
export class Agent {
  private readonly held: HeldKeys
  private readonly proxy: RouteTarget
  private readonly pause: (attempt: number) => Promise<void>
  /** Every host's records, as etcd has them: what the proxy renders. */
  private readonly records = new Map<string, ServiceRecord>()
  private readonly perContainer = new Map<string, Promise<void>>()
  /**
   * Revision of this agent's latest write per key, applied locally at once: the watch's echo of an
   * older write must not flip the route back (a start's put arriving after the die's).
   */
  private readonly ownRevisions = new Map<string, bigint>()
  /**
   * Keys holding a value that is not a well-formed record, with the revision already logged: a bad
   * record is skipped with one log line per value, however often the proxy re-renders or etcd is re-listed.
   */
  private readonly invalidLogged = new Map<string, string>()
  /** This host's records that would be invalid, with the reason already logged (see publish). */
  private readonly unpublishable = new Map<string, string>()
  private readonly log: (message: string) => void
  /** Image ID -> its labels: an ID names fixed content, so it is asked once. */
  private readonly imageLabels = new Map<string, Record<string, string>>()
  /**
   * The last reconcile's record of each container, with what its listing showed then: a container
   * whose listing is the same and that sent no event since is not inspected again (an inspect is most
   * of an idle reconcile's cost, and Docker's events carry every change).
   */
  private listed = new Map<string, {mark: string; record: ServiceRecord | null}>()
  private watcher: ServiceWatch | null = null
  private events: EventSubscription | null = null
  private timers: NodeJS.Timeout[] = []
  /**
   * Containers sent a stop signal and not yet dead, each with the timer that routes it again if it
   * stays: they get no new requests while the ones in flight finish (the drain of `docker stop`).
   */
  private readonly stopping = new Map<string, NodeJS.Timeout>()
  private stopped = false
  private readonly report: AgentReport
  private readonly reach: ReachAnswers

  constructor(private readonly options: AgentOptions) {
    this.log = options.log ?? ((message) => console.log(`${new Date().toISOString()} ${message}`))
    this.pause = options.pause ?? backoff
    this.held = new HeldKeys(options.registry, options.leaseTtlSeconds, this.pause)
    this.held.on('lost', () => this.log('etcd lease lost; granting a new one and putting every record again'))
    this.held.on('error', (error: Error) => this.log(`etcd lease: ${error.message}`))
    this.reach = new ReachAnswers({held: this.held, hostId: options.host.id, log: this.log})
    const records = () => [...this.records.values()]
    this.proxy = options.routes ? options.routes(records) : this.defaultRoutes(records)
    this.report = {
      dockerConnected: false,
      etcdConnected: false,
      hostId: options.host.id,
      hostName: options.host.name,
      lastReconcileAt: null,
      proxyConfigHash: null,
      routes: 0,
      schema: 1,
      startedAt: new Date().toISOString(),
    }
  }

  /** HAProxy's routes, and where a range is given, the TCP forwarder's table and the names' DNS answers beside them. */
  private defaultRoutes(records: () => ServiceRecord[]): RouteTarget {
    const {host, runDir, tcpRange} = this.options
    const context = {advertiseIp: host.advertiseIp, bridgeIp: host.bridgeIp, domain: this.options.domain, localHostId: host.id, log: this.log, runDir, tcpRange}
    const proxy = new ProxySync(records, context)
    if (!tcpRange) return proxy
    const tcp = new TcpSync(records, {...context, range: tcpRange})
    return {
      get configHash() {
        return proxy.configHash
      },
      schedule: async () => {
        await Promise.all([proxy.schedule(), tcp.schedule()])
      },
      stop: () => proxy.stop(),
    }
  }

  async start(): Promise<void> {
    await this.syncFromEtcd()
    await this.subscribeToDocker()
    await this.reconcile('start')
    // The only timer of the agent's own: nothing else polls (Docker and etcd push their changes).
    this.timers.push(setInterval(() => this.background('periodic reconcile', () => this.reconcile('periodic')), this.options.reconcileEvery ?? 30_000))
    if (this.options.reportEvery) this.timers.push(setInterval(() => this.background('status report', () => this.publishReport()), this.options.reportEvery))
  }

  async stop(): Promise<void> {
    this.stopped = true
    for (const timer of this.timers) clearInterval(timer)
    for (const timer of this.stopping.values()) clearTimeout(timer)
    this.proxy.stop()
    this.events?.close()
    await this.watcher?.cancel().catch(() => {})
  }

  /**
   * Runs work nobody awaits (timers, event callbacks): a failure is logged and the agent goes on.
   * An unhandled rejection would end the process (main.ts makes sure of that).
   */
  private background(what: string, work: () => Promise<unknown>): void {
    const failed = (error: unknown) => this.log(`${what} failed: ${error instanceof Error ? error.message : String(error)}`)
    try {
      work().catch(failed)
    } catch (error) {
      failed(error)
    }
  }

  // ---- etcd -> proxy ------------------------------------------------------------------------

  private async syncFromEtcd(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        const {invalid, probes, records, revision} = await this.options.registry.listServices()
        this.records.clear()
        this.ownRevisions.clear()
        for (const [key, record] of records) this.records.set(key, record)
        const stillInvalid = new Set(invalid.map((entry) => entry.key))
        for (const key of this.invalidLogged.keys()) if (!stillInvalid.has(key)) this.invalidLogged.delete(key)
        for (const entry of invalid) this.skipInvalid(entry)
        await this.watcher?.cancel().catch(() => {})
        this.watcher = await this.options.registry.watchServices(
          String(BigInt(revision) + 1n),
          (event) => {
            // Called from the registry's event emitter: a throw there would be an uncaught exception.
            try {
              if (event.type === 'probe') this.background('answering a probe', () => this.reach.onProbe(event.hostId, event.probe))
              else this.onServiceEvent(event)
            } catch (error) {
              this.log(`etcd event for ${shown(event.key, 200)} not applied: ${(error as Error).message}`)
            }
          },
          (error) => {
            this.log(`etcd watch broken (${error.message}); listing again`)
            this.background('etcd list/watch', () => this.syncFromEtcd())
          },
        )
        this.report.etcdConnected = true
        this.background('proxy update', () => this.proxy.schedule())
        this.background('answering probes', () => this.reach.sync(probes ?? []))
        return
      } catch (error) {
        this.report.etcdConnected = false
        this.log(`etcd list/watch failed (${(error as Error).message}); retrying`)
        await this.pause(attempt)
      }
    }
  }

  private onServiceEvent(event: RecordEvent, own = false): void {
    const revision = BigInt(event.revision)
    const latestOwn = this.ownRevisions.get(event.key)
    if (own) {
      this.ownRevisions.set(event.key, revision)
    } else if (latestOwn !== undefined) {
      if (revision < latestOwn) return
      this.ownRevisions.delete(event.key)
    }
    if (event.type === 'invalid') this.skipInvalid(event)
    else this.invalidLogged.delete(event.key)
    if (event.type === 'put') {
      const existing = this.records.get(event.key)
      if (existing && sameRecord(existing, event.record)) return
      this.records.set(event.key, event.record)
    } else if (!this.records.delete(event.key)) {
      // A bad value replacing a good record removes its route, like a delete.
      return
    }
    this.background('proxy update', () => this.proxy.schedule())
  }

  /** A key whose value is not a well-formed record is left out of the routes, with one log line per value. */
  private skipInvalid({key, reason, revision}: InvalidRecord): void {
    if (this.invalidLogged.get(key) === revision) return
    this.invalidLogged.set(key, revision)
    this.log(`skipping invalid record ${shown(key, 200)} (revision ${revision}): ${reason}`)
  }

  // ---- Docker -> etcd -----------------------------------------------------------------------

  private async subscribeToDocker(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        const subscription = await this.options.docker.events.containers(
          SERVICE,
          (event) => {
            try {
              this.onDockerEvent(event)
            } catch (error) {
              this.log(`docker event not applied: ${(error as Error).message}`)
            }
          },
          () => {
            if (this.stopped || this.events !== subscription) return
            this.events = null
            this.report.dockerConnected = false
            this.log('docker event stream ended; reconnecting')
            this.background('docker reconnect', async () => {
              await this.pause(0)
              await this.subscribeToDocker()
              // Events were missed meanwhile: inspect everything again.
              this.listed.clear()
              await this.reconcile('docker reconnect')
            })
          },
        )
        this.events = subscription
        this.report.dockerConnected = true
        return
      } catch (error) {
        this.report.dockerConnected = false
        this.log(`docker events unavailable (${(error as Error).message}); retrying`)
        await this.pause(attempt)
      }
    }
  }

  private onDockerEvent({action, id, signal}: ContainerEvent): void {
    this.listed.delete(id)
    if (action === 'kill' && signal !== undefined && STOP_SIGNALS.has(signal)) return this.beginStop(id)
    if (!EVENT_ACTIONS.has(action)) return
    if (['start', 'restart', 'die', 'destroy'].includes(action)) this.endStop(id)
    // A dead container is marked stopped at once, ahead of anything queued for it: Docker answers an
    // inspect only after its network teardown, about 100 ms later, and the route should not wait.
    if (action === 'die') this.background(`marking ${id.slice(0, 12)} stopped`, () => this.markStopped(id))
    this.background(`sync of ${id.slice(0, 12)}`, () => this.syncContainer(id))
  }

  /**
   * The process got its stop signal and still runs: its server leaves the proxy now, so new requests
   * go to the name's other containers (or get highway's 503 page at once) while the ones in flight
   * finish, instead of racing the process's exit.
   */
  private beginStop(id: string): void {
    if (this.stopping.has(id)) return
    const timer = setTimeout(() => {
      this.stopping.delete(id)
      this.background(`sync of ${id.slice(0, 12)}`, () => this.syncContainer(id))
    }, this.options.stoppingGraceMs ?? STOPPING_GRACE_MS)
    timer.unref()
    this.stopping.set(id, timer)
    this.background(`draining ${id.slice(0, 12)}`, () => this.markStopped(id))
  }

  private endStop(id: string): void {
    clearTimeout(this.stopping.get(id))
    this.stopping.delete(id)
  }

  /** Events for one container are applied in order; different containers proceed in parallel. */
  private syncContainer(id: string): Promise<void> {
    const previous = this.perContainer.get(id) ?? Promise.resolve()
    const next = previous
      .then(() => this.applyContainer(id))
      .catch((error: Error) => this.log(`sync of ${id.slice(0, 12)} failed: ${error.message}`))
      .finally(() => {
        if (this.perContainer.get(id) === next) this.perContainer.delete(id)
      })
    this.perContainer.set(id, next)
    return next
  }

  private async markStopped(id: string): Promise<void> {
    for (const record of this.records.values()) {
      if (record.containerId !== id || record.hostId !== this.options.host.id || record.state === 'stopped') continue
      await this.publish(stoppedRecord(record))
    }
  }

  /** The record for an inspected container, judged on the labels it was created with, not its image's. */
  private async recordOf(details: ContainerDetails | null): Promise<ServiceRecord | null> {
    return this.unlessStopping(details ? recordFromContainer(details, this.options.host, await this.creationLabels(details)) : null)
  }

  /** An inspect while it stops still says running: it stays out until it has died or the grace has passed. */
  private unlessStopping(record: ServiceRecord | null): ServiceRecord | null {
    return record && record.state !== 'stopped' && this.stopping.has(record.containerId) ? stoppedRecord(record) : record
  }

  /** The container's record as the last reconcile made it, if its listing did not change and it sent no event since; else from a new inspect. */
  private async reconciledRecord(
    container: ContainerSummary,
    listed: Map<string, {mark: string; record: ServiceRecord | null}>,
  ): Promise<ServiceRecord | null> {
    const mark = listingMark(container)
    const known = this.listed.get(container.Id)
    if (known?.mark === mark) {
      listed.set(container.Id, known)
      return this.unlessStopping(known.record)
    }
    const details = await this.options.docker.containers.inspect(container.Id)
    const labels = details && (await this.creationLabels(details))
    const record = details ? recordFromContainer(details, this.options.host, labels) : null
    // An image that could not be read is tried again next time.
    if (details && labels) listed.set(container.Id, {mark, record})
    return this.unlessStopping(record)
  }

  private async creationLabels(details: ContainerDetails): Promise<Record<string, string> | null> {
    let labels = this.imageLabels.get(details.Image) ?? null
    if (!labels) {
      labels = await this.options.docker.images.labels(details.Image)
      if (labels) this.imageLabels.set(details.Image, labels)
    }
    return labels
  }

  private async applyContainer(id: string): Promise<void> {
    const record = await this.recordOf(await this.options.docker.containers.inspect(id))
    const own = [...this.records].filter(([, existing]) => existing.containerId === id && existing.hostId === this.options.host.id)
    for (const [key] of own) {
      if (!record || key !== serviceKey(record)) await this.forget(key)
    }
    if (record) await this.publish(record)
  }

  private async publish(record: ServiceRecord): Promise<void> {
    const key = serviceKey(record)
    // What every reader would skip is not written: no etcd write and no log line on every reconcile.
    const problem = recordProblem(record, {advertiseIp: this.options.host.advertiseIp, bridgeIp: this.options.host.bridgeIp})
    if (problem) {
      if (this.unpublishable.get(key) !== problem) this.log(`not registering ${shown(record.containerName, 80)} as ${record.name}: ${problem}`)
      this.unpublishable.set(key, problem)
      // Its last good record would route to what the container no longer is.
      if (this.records.has(key) || this.held.has(key)) await this.forget(key)
      return
    }
    this.unpublishable.delete(key)
    const existing = this.records.get(key)
    if (existing && sameRecord(existing, record) && this.held.has(key)) return
    const value = JSON.stringify(record)
    const revision = await this.held.put(key, value)
    // Our own write also arrives through the watch; applying it now saves the round trip.
    this.onServiceEvent({key, record, revision, type: 'put'}, true)
  }

  private async forget(key: string): Promise<void> {
    const revision = await this.held.delete(key)
    this.onServiceEvent({key, revision, type: 'delete'}, true)
  }

  /** Makes etcd hold exactly this host's highway containers, whatever events were missed. */
  async reconcile(reason: string): Promise<void> {
    try {
      const desired: ServiceRecord[] = []
      const listed = new Map<string, {mark: string; record: ServiceRecord | null}>()
      for (const container of await this.options.docker.containers.list([SERVICE])) {
        const record = await this.reconciledRecord(container, listed)
        if (record) desired.push(record)
      }
      this.listed = listed
      const desiredKeys = new Set(desired.map((record) => serviceKey(record)))
      for (const key of this.unpublishable.keys()) if (!desiredKeys.has(key)) this.unpublishable.delete(key)
      const changes = diffRecords(desired, this.records, this.options.host.id)
      // Held records are re-put when the lease is not ours yet (after an agent restart).
      const unheld = desired.filter((record) => !this.held.has(serviceKey(record)) && !changes.put.includes(record))
      for (const record of [...changes.put, ...unheld]) await this.publish(record)
      for (const key of changes.delete) await this.forget(key)
      this.report.dockerConnected = true
      this.report.lastReconcileAt = new Date().toISOString()
      if (changes.put.length + changes.delete.length > 0) {
        this.log(`reconcile (${reason}): ${changes.put.length} put, ${changes.delete.length} deleted`)
      }
    } catch (error) {
      this.log(`reconcile (${reason}) failed: ${(error as Error).message}`)
    }
    await this.proxy.schedule().catch((error: Error) => this.log(`proxy update failed: ${error.message}`))
    await this.publishReport()
  }

  private async publishReport(): Promise<void> {
    this.report.routes = new Set([...this.records.values()].map((record) => record.name)).size
    this.report.proxyConfigHash = this.proxy.configHash
    try {
      await this.held.put(agentKey(this.options.host.id), JSON.stringify(this.report))
      this.report.etcdConnected = true
    } catch (error) {
      this.report.etcdConnected = false
      this.log(`status report to etcd failed: ${(error as Error).message}`)
    }
  }
}

/**
 * What a container's listing shows that its record depends on: its state and health, names, ports,
 * networks, labels and image. Docker's "Up 5 minutes" changes by itself: only its health counts.
 */
export function listingMark(container: ContainerSummary): string {
  const health = /\((healthy|unhealthy|health: starting)\)/.exec(container.Status ?? '')?.[1] ?? ''
  return JSON.stringify([
    container.State,
    health,
    container.Names,
    container.Ports,
    container.NetworkSettings,
    container.Labels,
    container.ImageID,
    container.Created,
  ])
}
