import {createServer} from 'node:net'
import {join} from 'node:path'
import {Listr, type ListrTask} from 'listr2'
import {createClients, type Clients} from '../clients.js'
import {UserError} from '../core/errors.js'
import type {Component} from '../core/labels.js'
import {acquireLock, describeHolder, type LockHolder} from '../core/lock.js'
import {LOOPBACK_ETCD_URL, configDir, hostSideIp, loadSettings, newHostId, saveSettings} from '../core/settings.js'
import {DEFAULT_SETTINGS, INFRA_PORTS, type Settings} from '../core/types.js'
import {assertDomain, assertIPv4} from '../core/validate.js'
import {waitFor} from '../core/wait.js'
import {ensureInfraImage, removeUnusedImages} from '../docker/image.js'
import {describeDockerHost} from '../docker/client.js'
import {LOOPBACK_HOST_IP, bridgeReachability} from '../docker/reachability.js'
import type {DockerClient} from '../docker/types.js'
import {probeForwarder, probeProxy} from '../proxy/client.js'
import {DEFAULT_TCP_RANGE, inRange, parseRange} from '../tcp/addresses.js'
import {checkRuntimeSetup, systemRunner, type RuntimeCheck} from '../resolvers/index.js'
import {PkiStore, type TlsIdentity} from '../registry/pki.js'
import {ensureLocalPki, joinedIdentity, memberPki, peerUrl, readJoinFile, storeJoin, type JoinFile} from '../registry/provision.js'
import {unreachable, type EtcdMember, type RegistryAdmin, type RegistryClient} from '../registry/registry.js'
import {componentSpecs, memberElectionMs, runsEtcd, type ComponentSpec, type SpecContext} from './components.js'
import {leaseFor} from '../registry/held-keys.js'
import {RunChanges, ensureContainer, ensureNetwork, ensureVolume, type EnsureOutcome} from './containers.js'
import {probeDns, probeEtcd} from './probes.js'
import {assertReachable} from './reach.js'

/** What the user asked of `up`; anything unset comes from the saved settings, then the defaults. */
export interface UpRequest {
  domain?: string
  bridgeIp?: string
  baseImage?: string
  upstreamDns?: string[]
  etcd?: string[]
  /** '' to stop publishing the registry for other hosts. */
  advertiseIp?: string
  /** Seconds: a dead host's routes leave the other proxies within this. */
  leaseTtl?: number
  /** A join file from the host that runs etcd (`highway join-file`): use that etcd, as the host it names. */
  join?: string
  /** Where this host reaches the DNS and proxy when the bridge is out of its reach; '' for the bridge; unset: detected. */
  hostIp?: string
  /** highway's address range for names served by TCP; 'none' turns TCP by name off. */
  tcpRange?: string
}

export interface UpResult {
  settings: Settings
  image: string
  /** Per component, what this run did to it. */
  outcomes: Partial<Record<Component, EnsureOutcome>>
  /** dns-setup's runtime-only settings, checked (and put back where allowed). */
  resolver: RuntimeCheck
  /** highway's older infrastructure images no container used any more, removed; why that failed, if it did (the run still succeeded). */
  images: {removed: string[]; error?: string}
}

/** The lock file serialising `up` runs, in the config directory. */
export const UP_LOCK = 'up.lock'
/** An `up` builds the image at most once and waits for four components; longer than this, its holder is stuck. */
const LOCK_WAIT_MS = 15 * 60_000

/** How long each component may take to answer before `up` gives up and names it. */
export const READY_TIMEOUT_MS: Record<Component, number> = {agent: 30_000, dns: 15_000, etcd: 30_000, proxy: 15_000, tcp: 15_000}

/** The agent renews its lease about three times per TTL; below 2 s a busy machine may miss all three. */
export const MIN_LEASE_TTL = 2
export const MAX_LEASE_TTL = 3600

/** Refuses a TCP range that holds one of this host's addresses: the range's route would take it over. */
function assertRangeFree(tcpRange: string, addresses: Array<[what: string, address: string | undefined]>): void {
  const range = parseRange(tcpRange)
  for (const [what, address] of addresses) {
    if (address && inRange(range, address)) {
      throw new UserError(`--tcp-range ${tcpRange} holds ${what} ${address}: highway would take that address over on this host`, {
        suggestion: `give a range no host or network of yours uses (the default is ${DEFAULT_TCP_RANGE}), or --tcp-range none`,
      })
    }
  }
}

/** Everything `up` is told, checked before Docker is touched: bad input creates nothing. */
export function validateRequest(request: UpRequest, saved: Settings): Omit<Settings, 'bridgeIp'> & {bridgeIp?: string} {
  const domain = assertDomain(request.domain ?? saved.domain)
  const bridgeIp = request.bridgeIp === undefined ? undefined : assertIPv4(request.bridgeIp, '--bridge-ip')
  const upstreamDns = (request.upstreamDns ?? saved.upstreamDns).map((server) => assertIPv4(server, '--upstream-dns'))
  const etcdEndpoints = request.etcd ?? saved.etcdEndpoints
  for (const endpoint of etcdEndpoints) {
    if (!/^https?:\/\/[^\s/]+$/.test(endpoint)) throw new UserError(`invalid --etcd endpoint "${endpoint}": expected a URL such as http://10.0.0.5:2379`)
  }
  // Where other hosts reach this one: its services (and its etcd, when it runs one) are published there too.
  const advertise = request.advertiseIp ?? saved.advertiseIp ?? ''
  const advertiseIp = advertise === '' ? '' : assertIPv4(advertise, '--advertise-ip')
  const leaseTtl = request.leaseTtl ?? saved.leaseTtl ?? DEFAULT_SETTINGS.leaseTtl!
  if (!Number.isInteger(leaseTtl) || leaseTtl < MIN_LEASE_TTL || leaseTtl > MAX_LEASE_TTL) {
    throw new UserError(`invalid --lease-ttl ${leaseTtl}: expected whole seconds from ${MIN_LEASE_TTL} to ${MAX_LEASE_TTL}`, {
      suggestion: `the default is ${DEFAULT_SETTINGS.leaseTtl} s; shorter drops a dead host's routes sooner, and a host cut off that long loses them`,
    })
  }
  const electionMs = memberElectionMs({advertiseIp, etcdEndpoints})
  const lease = leaseFor(leaseTtl, electionMs)
  if (electionMs && !lease.honoured) {
    throw new UserError(
      `--lease-ttl ${leaseTtl} cannot be kept on this host: it runs an etcd member other hosts share, and electing a new leader when it dies takes up to 3 s of it`,
      {
        suggestion: `give --lease-ttl ${lease.shortestSeconds} or more (the default is ${DEFAULT_SETTINGS.leaseTtl} s)`,
      },
    )
  }
  const hostIp = request.hostIp === undefined || request.hostIp === '' ? request.hostIp : assertIPv4(request.hostIp, '--host-ip')
  const tcpRange = request.tcpRange === 'none' ? '' : (request.tcpRange ?? saved.tcpRange ?? DEFAULT_SETTINGS.tcpRange!)
  if (tcpRange) {
    parseRange(tcpRange)
    assertRangeFree(tcpRange, [
      ['--bridge-ip', bridgeIp],
      ['--advertise-ip', advertiseIp],
      ['--host-ip', hostIp],
      ...upstreamDns.map((server) => ['--upstream-dns', server] as [string, string]),
    ])
  }
  return {advertiseIp, baseImage: request.baseImage ?? saved.baseImage, bridgeIp, domain, etcdEndpoints, hostIp, leaseTtl, tcpRange, upstreamDns}
}

interface UpContext {
  clients: Clients
  /** A learner this run added to the cluster (up --join with a member's file): promoted once its etcd answers, removed if the run fails. */
  learner?: {id: string; endpoints: string[]}
  docker: DockerClient
  settings: Settings
  tls: SpecContext['tls'] & {root: TlsIdentity | null}
  signal: AbortSignal
  changes: RunChanges
  outcomes: UpResult['outcomes']
  image?: string
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, {once: true})
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

/**
 * The agent's report is held by its lease, so its presence means the agent is alive; a new agent
 * must also have finished a reconcile since it was started.
 */
function agentReady(context: UpContext, since: number): Promise<string> {
  const fresh = context.outcomes.agent !== 'unchanged'
  const registry = context.clients.registry(context.settings)
  return waitFor(
    async () => {
      const report = (await registry.listAgents()).find((agent) => agent.hostId === context.settings.hostId)
      if (report?.lastReconcileAt && (!fresh || Date.parse(report.lastReconcileAt) >= since - 1000)) return `${report.routes} routes`
      return undefined
    },
    // Asked often: this wait is the last step of `up`, and each answer is one small etcd range.
    {interval: 50, message: 'the route agent did not report a reconcile to etcd', signal: context.signal, timeout: READY_TIMEOUT_MS.agent},
  )
}

function readiness(context: UpContext, component: Component, since: number): Promise<string> {
  // Asked where this host reaches them: the bridge, or the host-side address when the bridge is out of reach.
  const address = hostSideIp(context.settings)
  const {domain} = context.settings
  const options = {interval: 100, signal: context.signal, timeout: READY_TIMEOUT_MS[component]}
  switch (component) {
    case 'etcd': {
      return waitFor(() => probeEtcd(LOOPBACK_ETCD_URL, context.tls.root), {
        ...options,
        message: `etcd did not report healthy at ${LOOPBACK_ETCD_URL}/health`,
      })
    }
    case 'proxy': {
      return waitFor(() => probeProxy(address), {...options, message: `HAProxy did not answer HTTP on ${address}:80`})
    }
    case 'dns': {
      return waitFor(() => probeDns(address, domain), {...options, message: `dnsmasq did not answer highway-probe.${domain} on ${address}:53`})
    }
    case 'tcp': {
      return waitFor(() => probeForwarder(context.settings), {
        ...options,
        message: `the TCP forwarder did not answer on highway's address in ${context.settings.tcpRange}`,
        suggestion: '`docker logs highway-tcp` says why; `highway up --tcp-range none` runs highway without TCP by name',
      })
    }
    case 'agent': {
      return agentReady(context, since)
    }
  }
}

/**
 * What the components of one run share. Their waits overlap (etcd elects while the others start),
 * their Docker starts do not: `oneAtATime` runs them in spec order, etcd first. Started all at once,
 * the proxy's published port dropped every packet for up to 1.2 s after its start had returned (a
 * probe every 200 ms timed out, in 2 of 3 runs), and `up` took as long as one start after another.
 * Each component settles its own entry (the agent waits for them all), and the first failure stops
 * the others' waits (`halt`), so a run that cannot succeed says why at once.
 */
interface Group {
  oneAtATime: <T>(work: () => Promise<T>) => Promise<T>
  settled: Map<Component, Promise<void>>
  settle: Map<Component, () => void>
  halt: AbortController
  failure?: unknown
}

function group(specs: ComponentSpec[], halt: AbortController): Group {
  const settled = new Map<Component, Promise<void>>()
  const settle = new Map<Component, () => void>()
  for (const {component} of specs) {
    // Settled either way: the agent's wait only needs to know that every other component is done.
    settled.set(component, new Promise<void>((resolve) => settle.set(component, () => resolve())))
  }
  let last: Promise<unknown> = Promise.resolve()
  const oneAtATime = <T>(work: () => Promise<T>): Promise<T> => {
    const run = last.then(work)
    last = run.catch(() => {})
    return run
  }
  return {halt, oneAtATime, settle, settled}
}

/**
 * What answers before the agent starts: etcd (and the agent's etcd user, granted once etcd answers)
 * and the proxy it drives. Not dnsmasq nor the TCP forwarder: they read the files the agent writes
 * whenever they start, so the agent starts while they are still coming up: with the 50 ms polls of
 * agentReady, `up` from stopped took 1.68 s (p50 of 12 runs) where it took 1.75 s (bench/up.mjs).
 */
const AGENT_NEEDS: ReadonlySet<Component> = new Set(['etcd', 'proxy'])

function componentTask(spec: ComponentSpec, started: Group): ListrTask<UpContext> {
  return {
    task: async (context, task) => {
      try {
        if (spec.component === 'agent') {
          task.output = 'waiting for etcd and the proxy'
          await Promise.all([...started.settled].filter(([component]) => AGENT_NEEDS.has(component)).map(([, done]) => done))
          if (started.failure) return task.skip(`agent: not started, another component failed`)
        }
        await startComponent(spec, context, task, started.oneAtATime)
      } catch (error) {
        if (context.signal.aborted && error === context.signal.reason && started.failure !== undefined) {
          return task.skip(`${spec.component}: stopped, another component failed`)
        }
        started.failure ??= error
        started.halt.abort(error)
        throw error
      } finally {
        started.settle.get(spec.component)!()
      }
    },
    title: spec.component,
  }
}

async function startComponent(spec: ComponentSpec, context: UpContext, task: {output: string; title: string}, oneAtATime: Group['oneAtATime']): Promise<void> {
  const since = Date.now()
  const outcome = await oneAtATime(async () => {
    context.signal.throwIfAborted()
    let existed = false
    for (const volume of spec.volumes) existed = !(await ensureVolume(context.docker, volume, context.changes)) || existed
    if (spec.network) await ensureNetwork(context.docker, spec.network, context.changes)
    // Not abortable midway: a container whose create is still in flight when Ctrl-C lands would be
    // recorded only after the rollback ran, and be left behind. It takes well under a second.
    return ensureContainer(context.docker, spec, context.changes, {prepare: existed})
  })
  context.signal.throwIfAborted()
  context.outcomes[spec.component] = outcome
  task.output = `${outcome}, waiting until it answers`
  const ready = await readiness(context, spec.component, since)
  if (spec.component === 'etcd') {
    if (context.learner) {
      task.output = 'promoting this member to a voting one'
      await promote(context, context.learner)
    }
    task.output = 'granting this host its etcd user'
    await grantHosts(context)
  }
  task.title = `${spec.component}: ${outcome === 'unchanged' ? 'already running' : outcome}, ${ready}`
}

/**
 * The certificates the containers get: where etcd runs here, the CA and every identity (made on the
 * first `up`, made again when what they name changes); where it runs elsewhere, the identity a join
 * file gave this host (stored now); none for an etcd of the user's own without TLS.
 */
async function registryIdentities(clients: Clients, settings: Settings, joining: JoinFile | undefined): Promise<UpContext['tls']> {
  const store = PkiStore.of(clients.env)
  const hostId = settings.hostId!
  if (settings.etcdMember) {
    const pki = memberPki(store)
    return {agent: pki.host, etcd: pki.etcd, root: pki.root}
  }
  if (runsEtcd(settings)) {
    const pki = await ensureLocalPki(store, {advertiseIp: settings.advertiseIp, hostId})
    return {agent: pki.host, etcd: pki.etcd, root: pki.root}
  }
  if (joining) storeJoin(store, joining)
  const secure = settings.etcdEndpoints.some((endpoint) => endpoint.startsWith('https:'))
  return {agent: secure ? joinedIdentity(store, hostId) : null, etcd: null, root: null}
}

/** The root client of the cluster a join file names (this host's own etcd does not run yet). */
function clusterAdmin(context: Pick<UpContext, 'clients' | 'settings'>, endpoints: string[]) {
  return context.clients.admin({...context.settings, etcdEndpoints: endpoints})
}

/** A learner may be promoted only once it has caught up with the leader: etcd says so, and we ask again. */
async function promote(context: UpContext, learner: {id: string; endpoints: string[]}): Promise<void> {
  const admin = clusterAdmin(context, learner.endpoints)
  await waitFor(
    async () => {
      try {
        await admin.promote(learner.id)
        return true
      } catch (error) {
        // Promoted already (a retried run): done. Anything else, "not in sync" first of all: ask again.
        return /not a learner/i.test((error as Error).message) ? true : undefined
      }
    },
    {
      interval: 200,
      message: `this host’s etcd member did not catch up with the cluster: do the other members reach it at ${peerUrl(context.settings.advertiseIp!)} (--advertise-ip)?`,
      signal: context.signal,
      timeout: READY_TIMEOUT_MS.etcd,
    },
  )
  context.learner = undefined
}

/**
 * etcd refuses to change its membership while a member that just started or joined has been connected
 * for less than a few seconds ("unhealthy cluster", its strict reconfiguration check): asked again
 * until that passes. Any other refusal is final.
 */
async function addLearner(admin: RegistryAdmin, url: string): Promise<{added: EtcdMember; members: EtcdMember[]}> {
  const outcome = await waitFor(
    async () => {
      try {
        return {added: await admin.addLearner(url)}
      } catch (error) {
        // etcd3 counts each refusal against the endpoint and stops calling it for a few seconds: that passes too.
        return /unhealthy cluster|circuit breaker is open/i.test((error as Error).message) ? undefined : {error}
      }
    },
    {interval: 500, message: 'etcd kept refusing a new member (unhealthy cluster)', timeout: READY_TIMEOUT_MS.etcd},
  )
  if ('error' in outcome) throw outcome.error
  return outcome.added
}

/**
 * up --join with a member's file: adds this host's etcd to the cluster as a learner (it gets no vote,
 * so the cluster keeps its quorum whatever happens to this run), and says how it starts: under its own
 * name, into the cluster as it is now. A member already there (an earlier `up` that got that far) is
 * taken as it is.
 */
async function joinAsMember(
  clients: Clients,
  settings: Settings,
  joining: JoinFile,
): Promise<{settings: Settings; learner?: {id: string; endpoints: string[]}}> {
  const member = joining.member!
  const url = peerUrl(member.advertiseIp)
  const name = `highway-${settings.hostId}`
  const admin = clusterAdmin({clients, settings}, joining.endpoints)
  let members: EtcdMember[]
  let learner: {id: string; endpoints: string[]} | undefined
  try {
    members = await admin.members()
    const existing = members.find((candidate) => candidate.peerUrls.includes(url))
    if (!existing) {
      const added = await addLearner(admin, url)
      members = added.members
      learner = {endpoints: joining.endpoints, id: added.added.id}
    } else if (existing.learner) {
      learner = {endpoints: joining.endpoints, id: existing.id}
    }
  } catch (error) {
    throw unreachable(joining.endpoints, error)
  }
  const cluster = members.map((candidate) => `${candidate.peerUrls.includes(url) ? name : candidate.name}=${candidate.peerUrls[0]}`)
  const peers = members.filter((candidate) => !candidate.peerUrls.includes(url)).flatMap((candidate) => candidate.clientUrls)
  return {
    learner,
    settings: {...settings, etcdEndpoints: [], etcdMember: {initialCluster: cluster.join(','), name}, etcdPeers: peers.length > 0 ? peers : joining.endpoints},
  }
}

/** The engine runs on this machine (a unix socket): what `up` binds here, Docker publishes here. */
function engineIsLocal(env: NodeJS.ProcessEnv): boolean {
  return describeDockerHost(env).startsWith('unix://')
}

/**
 * Services and etcd are published on the advertise address: it must be one of this host's. Checked by
 * binding it (port 0) where the engine is this machine's (a unix socket); a remote engine's host is
 * not this one, and Docker's own bind says it there.
 */
async function assertLocalAddress(env: NodeJS.ProcessEnv, address: string): Promise<void> {
  if (!engineIsLocal(env)) return
  const problem = await new Promise<string | null>((resolve) => {
    const server = createServer()
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
    server.listen(0, address, () => server.close(() => resolve(null)))
  })
  if (problem === 'EADDRNOTAVAIL') {
    throw new UserError(`--advertise-ip ${address} is not an address of this host`, {
      suggestion: 'give the address of this host’s interface that the other hosts reach (`ip -4 addr`)',
    })
  }
}

/**
 * A join file is one host's identity: a second host joining with it would write the first one's
 * records under the same keys and lease (each deleting the other's as orphans). Its agent's report,
 * held by its lease, says the id is alive elsewhere.
 */
async function refuseTakenId(registry: RegistryClient, joining: JoinFile): Promise<void> {
  const reports = await registry.listAgents().catch(() => [])
  const holder = reports.find((report) => report.hostId === joining.hostId)
  if (holder) {
    throw new UserError(`host id ${joining.hostId} is in use: host ${holder.hostName}'s agent holds it (a join file is for one host)`, {
      suggestion: 'make a join file of its own for this host on the first host (`highway join-file --out FILE`)',
    })
  }
}

/**
 * What `up --join` checks before anything of the file is stored or created here, so a refused join
 * leaves this host as it was, in this order: the id is not alive elsewhere, the advertise address is
 * this host's, and the other hosts reach it (where this host's services, and its etcd member, will be
 * published). Asked as the file's host.
 */
async function checkJoin(env: NodeJS.ProcessEnv, settings: Settings, joining: JoinFile, saved: Settings, signal: AbortSignal): Promise<void> {
  const asJoined = createClients(env, {identity: {ca: joining.ca, cert: joining.cert, key: joining.key}})
  try {
    const registry = asJoined.registry(settings)
    if (saved.hostId !== joining.hostId) await refuseTakenId(registry, joining)
    if (!settings.advertiseIp) return
    await assertLocalAddress(env, settings.advertiseIp)
    if (engineIsLocal(env)) await assertReachable(registry, joining.hostId, settings.advertiseIp, {signal})
  } finally {
    asJoined.close()
  }
}

/**
 * Where etcd runs here and already answers: the other members' client URLs, for this host's CLI and
 * agent to fail over to. Best effort: an etcd that does not answer yet keeps what was saved.
 */
async function currentPeers(clients: Clients, settings: Settings): Promise<string[] | undefined> {
  if (!runsEtcd(settings) || !settings.advertiseIp || !PkiStore.of(clients.env).identity('root')) return settings.etcdPeers
  try {
    const members = await clients.admin({...settings, etcdPeers: []}).members()
    const own = `https://${settings.advertiseIp}:${INFRA_PORTS.etcd}`
    const peers = members.flatMap((member) => member.clientUrls).filter((url) => url !== own && url !== LOOPBACK_ETCD_URL)
    return peers.length > 0 ? peers : undefined
  } catch {
    return settings.etcdPeers
  }
}

/** Once etcd answers: its root user, this host's role and user, auth on (a no-op when already so). */
async function grantHosts(context: UpContext): Promise<void> {
  const admin = context.clients.admin(context.settings)
  try {
    await admin.grantHosts([context.settings.hostId!])
  } catch (error) {
    throw new UserError(`could not set up etcd's users: ${(error as Error).message}`, {
      suggestion: 'if etcd’s data comes from another highway install, `highway down --purge` starts it afresh (every route is registered again)',
      cause: error,
    })
  }
}

/**
 * The steps of `highway up`: the image, then the components, each waited for until it answers a real
 * request, the agent once the others answer. Progress goes through listr2 (plain lines when not on a
 * TTY); its own SIGINT handler is off because Ctrl-C (an abort of `signal`) must remove what this run
 * created.
 */
async function bringUp(context: UpContext): Promise<void> {
  // Every wait of this run ends on Ctrl-C, and on the first component that fails.
  const halt = new AbortController()
  const interrupted = context.signal
  context.signal = AbortSignal.any([interrupted, halt.signal])
  let started: Group | undefined
  const tasks = new Listr<UpContext>(
    [
      {
        task: async (ctx, task) => {
          ctx.image = await abortable(
            ensureInfraImage(ctx.docker.images, ctx.settings.baseImage, (line) => (task.output = line)),
            ctx.signal,
          )
          task.title = `image ${ctx.image}`
        },
        title: 'image',
      },
      {
        task: (ctx, task) => {
          const specs = componentSpecs({dockerSocket: ctx.docker.engine.socketPath, image: ctx.image!, settings: ctx.settings, tls: ctx.tls})
          started = group(specs, halt)
          // Waited for together (see Group): etcd elects while the proxy, dnsmasq and the forwarder start.
          return task.newListr(
            specs.map((spec) => componentTask(spec, started!)),
            {concurrent: true, exitOnError: false},
          )
        },
        title: `components on ${context.settings.bridgeIp}, domain ${context.settings.domain}`,
      },
    ],
    {
      ctx: context,
      exitOnError: true,
      fallbackRendererOptions: {timer: undefined},
      registerSignalListeners: false,
      rendererOptions: {collapseSubtasks: false},
    },
  )
  try {
    await tasks.run()
    if (started?.failure !== undefined) throw started.failure
    interrupted.throwIfAborted()
  } catch (error) {
    try {
      await context.changes.rollback(context.docker)
    } catch (rollbackError) {
      throw new UserError(`${(error as Error).message}; then putting the previous highway back failed: ${(rollbackError as Error).message}`, {
        cause: error,
        suggestion: 'run `highway status` to see what runs, and `highway up` again',
      })
    }
    throw error
  }
  // Every component answers: only now do replaced components go, and replacements take their names.
  await context.changes.commit(context.docker)
}

/**
 * The host-side address: as asked (`--host-ip`, '' for none), else as saved, else 127.0.0.1 when
 * the engine says its bridge is out of this host's reach (docker/reachability.ts), else none.
 */
async function hostIpFor(docker: DockerClient, requested: string | undefined, saved: Settings): Promise<string> {
  if (requested !== undefined) return requested
  if (saved.hostIp) return saved.hostIp
  const reach = bridgeReachability(await docker.engine.info(), docker.engine.address)
  return reach.reachable ? '' : LOOPBACK_HOST_IP
}

/** Said once when another `up` holds the lock and this one waits for it. */
function sayWaiting(holder: LockHolder): void {
  process.stderr.write(`waiting for another \`highway up\` (${describeHolder(holder)}) to finish; Ctrl-C to give up\n`)
}

/**
 * `highway up`: validates the request, brings every component to its spec, and remembers the
 * settings. On failure or abort it removes what it created, starts again what it stopped, and
 * rethrows: a failed `up` leaves the highway it found. One `up` at a time per config directory.
 */
export async function runUp(
  clients: Clients,
  request: UpRequest,
  signal: AbortSignal,
  options: {onLockWait?: (holder: LockHolder) => void} = {},
): Promise<UpResult> {
  // Validated before the lock, so bad input fails at once whoever else is busy.
  validateRequest(request, loadSettings(clients.env))
  const lock = await acquireLock(join(configDir(clients.env), UP_LOCK), {onWait: options.onLockWait ?? sayWaiting, signal, timeoutMs: LOCK_WAIT_MS})
  try {
    return await runUpLocked(clients, request, signal)
  } finally {
    lock.release()
  }
}

async function runUpLocked(clients: Clients, request: UpRequest, signal: AbortSignal): Promise<UpResult> {
  // Read again under the lock: the `up` this one waited for may have changed them.
  const saved = loadSettings(clients.env)
  if (request.join && request.etcd) {
    throw new UserError('--join names the etcd to use: it goes without --etcd', {suggestion: 'give --join FILE (and this host’s --advertise-ip)'})
  }
  const joining = request.join ? readJoinFile(request.join) : undefined
  const requested = validateRequest(joining ? {...request, etcd: joining.endpoints} : request, saved)
  const docker = await clients.docker()
  const hostId = joining?.hostId ?? (saved.hostId || newHostId())
  let settings: Settings = {
    ...requested,
    bridgeIp: requested.bridgeIp ?? (await docker.engine.bridgeGateway()),
    hostId,
    hostIp: await hostIpFor(docker, requested.hostIp, saved),
  }
  // The bridge address and the host-side one are known only now (detected from Docker).
  if (settings.tcpRange)
    assertRangeFree(settings.tcpRange, [
      ['the bridge address', settings.bridgeIp],
      ['the host-side address', settings.hostIp],
    ])
  if (joining?.member) {
    if (requested.advertiseIp && requested.advertiseIp !== joining.member.advertiseIp) {
      throw new UserError(`${request.join} makes an etcd member on ${joining.member.advertiseIp}, not on --advertise-ip ${requested.advertiseIp}`, {
        suggestion: 'give this host’s --advertise-ip to `highway join-file` on the first host, and carry the new file here',
      })
    }
    settings.advertiseIp = joining.member.advertiseIp
  }
  if (joining) {
    await checkJoin(clients.env, {...settings, etcdEndpoints: joining.endpoints}, joining, saved, signal)
  } else if (settings.advertiseIp) {
    await assertLocalAddress(clients.env, settings.advertiseIp)
    const joined = saved.etcdEndpoints.some((endpoint) => endpoint.startsWith('https:'))
    if (joined && settings.advertiseIp !== saved.advertiseIp && engineIsLocal(clients.env)) {
      // A joined host moving to another address: the others must reach that one too.
      const registry = clients.registry(settings)
      try {
        await assertReachable(registry, hostId, settings.advertiseIp, {signal})
      } finally {
        registry.close()
      }
    }
  }
  let learner: UpContext['learner']
  if (joining?.member) {
    storeJoin(PkiStore.of(clients.env), joining)
    ;({learner, settings} = await joinAsMember(clients, settings, joining))
  } else if (!joining) {
    settings = {...settings, etcdMember: saved.etcdMember, etcdPeers: (await currentPeers(clients, settings)) ?? []}
    if (!settings.etcdMember) delete settings.etcdMember
  }
  const tls = await registryIdentities(clients, settings, joining)
  const context: UpContext = {clients, changes: new RunChanges(), docker, learner, outcomes: {}, settings, signal, tls}
  try {
    await bringUp(context)
  } catch (error) {
    // A learner has no vote: removing it needs only the quorum the cluster kept all along.
    if (context.learner)
      await clusterAdmin(context, context.learner.endpoints)
        .removeMember(context.learner.id)
        .catch(() => {})
    throw error
  }
  const changed = (Object.keys(settings) as Array<keyof Settings>).some((key) => JSON.stringify(settings[key]) !== JSON.stringify(saved[key]))
  if (changed) saveSettings(settings, clients.env)
  // dns-setup's runtime-only settings (resolved per link, resolvconf) vanish with a reboot or a new docker0.
  const resolver = await checkRuntimeSetup('/', systemRunner(), {bridgeIp: hostSideIp(settings), domain: settings.domain})
  // Each code change or version builds a new tag beside the old ones: after the swap, none of the old
  // ones is used by highway (a user's container still on one keeps it).
  const images = await removeUnusedImages(docker, context.image!).then(
    (removed) => ({removed}),
    (error: Error) => ({error: error.message, removed: []}),
  )
  return {image: context.image!, images, outcomes: context.outcomes, resolver, settings}
}
