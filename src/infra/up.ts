import {join} from 'node:path'
import {Listr, type ListrTask} from 'listr2'
import type {Clients} from '../clients.js'
import {UserError} from '../core/errors.js'
import type {Component} from '../core/labels.js'
import {acquireLock, describeHolder, type LockHolder} from '../core/lock.js'
import {LOOPBACK_ETCD_URL, configDir, loadSettings, newHostId, saveSettings} from '../core/settings.js'
import type {Settings} from '../core/types.js'
import {assertDomain, assertIPv4} from '../core/validate.js'
import {waitFor} from '../core/wait.js'
import {ensureInfraImage, removeUnusedImages} from '../docker/image.js'
import type {DockerClient} from '../docker/types.js'
import {probeProxy} from '../proxy/client.js'
import {checkRuntimeSetup, systemRunner, type RuntimeCheck} from '../resolvers/index.js'
import {PkiStore, type TlsIdentity} from '../registry/pki.js'
import {ensureLocalPki, joinedIdentity, readJoinFile, storeJoin, type JoinFile} from '../registry/provision.js'
import {componentSpecs, type ComponentSpec, type SpecContext} from './components.js'
import {RunChanges, ensureContainer, ensureNetwork, ensureVolume, type EnsureOutcome} from './containers.js'
import {probeDns, probeEtcd} from './probes.js'

/** What the user asked of `up`; anything unset comes from the saved settings, then the defaults. */
export interface UpRequest {
  domain?: string
  bridgeIp?: string
  baseImage?: string
  upstreamDns?: string[]
  etcd?: string[]
  /** '' to stop publishing the registry for other hosts. */
  advertiseIp?: string
  /** A join file from the host that runs etcd (`highway join-file`): use that etcd, as the host it names. */
  join?: string
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
export const READY_TIMEOUT_MS: Record<Component, number> = {agent: 30_000, dns: 15_000, etcd: 30_000, proxy: 15_000}

/** Everything `up` is told, checked before Docker is touched: bad input creates nothing. */
export function validateRequest(request: UpRequest, saved: Settings): Omit<Settings, 'bridgeIp'> & {bridgeIp?: string} {
  const domain = assertDomain(request.domain ?? saved.domain)
  const bridgeIp = request.bridgeIp === undefined ? undefined : assertIPv4(request.bridgeIp, '--bridge-ip')
  const upstreamDns = (request.upstreamDns ?? saved.upstreamDns).map((server) => assertIPv4(server, '--upstream-dns'))
  const etcdEndpoints = request.etcd ?? saved.etcdEndpoints
  for (const endpoint of etcdEndpoints) {
    if (!/^https?:\/\/[^\s/]+$/.test(endpoint)) throw new UserError(`invalid --etcd endpoint "${endpoint}": expected a URL such as http://10.0.0.5:2379`)
  }
  const advertise = request.advertiseIp ?? saved.advertiseIp ?? ''
  const advertiseIp = advertise === '' ? '' : assertIPv4(advertise, '--advertise-ip')
  if (advertiseIp && etcdEndpoints.length > 0) {
    throw new UserError('--advertise-ip publishes this host’s own etcd, and --etcd says this host runs none', {
      suggestion: 'give --advertise-ip on the host that runs etcd, and --etcd on the others',
    })
  }
  return {advertiseIp, baseImage: request.baseImage ?? saved.baseImage, bridgeIp, domain, etcdEndpoints, upstreamDns}
}

interface UpContext {
  clients: Clients
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
    {interval: 200, message: 'the route agent did not report a reconcile to etcd', signal: context.signal, timeout: READY_TIMEOUT_MS.agent},
  )
}

function readiness(context: UpContext, component: Component, since: number): Promise<string> {
  const {bridgeIp, domain} = context.settings
  const options = {interval: 100, signal: context.signal, timeout: READY_TIMEOUT_MS[component]}
  switch (component) {
    case 'etcd': {
      return waitFor(() => probeEtcd(LOOPBACK_ETCD_URL, context.tls.root), {
        ...options,
        message: `etcd did not report healthy at ${LOOPBACK_ETCD_URL}/health`,
      })
    }
    case 'proxy': {
      return waitFor(() => probeProxy(bridgeIp), {...options, message: `HAProxy did not answer HTTP on ${bridgeIp}:80`})
    }
    case 'dns': {
      return waitFor(() => probeDns(bridgeIp, domain), {...options, message: `dnsmasq did not answer highway-probe.${domain} on ${bridgeIp}:53`})
    }
    case 'agent': {
      return agentReady(context, since)
    }
  }
}

function componentTask(spec: ComponentSpec): ListrTask<UpContext> {
  return {
    task: async (context, task) => {
      const since = Date.now()
      let existed = false
      for (const volume of spec.volumes) existed = !(await ensureVolume(context.docker, volume, context.changes)) || existed
      if (spec.network) await ensureNetwork(context.docker, spec.network, context.changes)
      // Not abortable midway: a container whose create is still in flight when Ctrl-C lands would be
      // recorded only after the rollback ran, and be left behind. It takes well under a second.
      const outcome = await ensureContainer(context.docker, spec, context.changes, {prepare: existed})
      context.signal.throwIfAborted()
      context.outcomes[spec.component] = outcome
      task.output = `${outcome}, waiting until it answers`
      const ready = await readiness(context, spec.component, since)
      if (spec.component === 'etcd') {
        task.output = 'granting this host its etcd user'
        await grantHosts(context)
      }
      task.title = `${spec.component}: ${outcome === 'unchanged' ? 'already running' : outcome}, ${ready}`
    },
    title: spec.component,
  }
}

/**
 * The certificates the containers get: where etcd runs here, the CA and every identity (made on the
 * first `up`, made again when what they name changes); where it runs elsewhere, the identity a join
 * file gave this host (stored now); none for an etcd of the user's own without TLS.
 */
async function registryIdentities(clients: Clients, settings: Settings, joining: JoinFile | undefined): Promise<UpContext['tls']> {
  const store = PkiStore.of(clients.env)
  const hostId = settings.hostId!
  if (settings.etcdEndpoints.length === 0) {
    const pki = await ensureLocalPki(store, {advertiseIp: settings.advertiseIp, hostId})
    return {agent: pki.host, etcd: pki.etcd, root: pki.root}
  }
  if (joining) storeJoin(store, joining)
  const secure = settings.etcdEndpoints.some((endpoint) => endpoint.startsWith('https:'))
  return {agent: secure ? joinedIdentity(store, hostId) : null, etcd: null, root: null}
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
 * The steps of `highway up`, in order: image, then each component started and waited for until it
 * answers a real request. Progress goes through listr2 (plain lines when not on a TTY); its own
 * SIGINT handler is off because Ctrl-C (an abort of `signal`) must remove what this run created.
 */
async function bringUp(context: UpContext): Promise<void> {
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
          return task.newListr(
            specs.map((spec) => componentTask(spec)),
            {concurrent: false, exitOnError: true},
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
    context.signal.throwIfAborted()
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
  if (request.join && (request.etcd || request.advertiseIp)) {
    throw new UserError('--join names the etcd to use: it goes without --etcd and --advertise-ip', {suggestion: 'give --join FILE alone'})
  }
  const joining = request.join ? readJoinFile(request.join) : undefined
  const requested = validateRequest(joining ? {...request, advertiseIp: '', etcd: joining.endpoints} : request, saved)
  const docker = await clients.docker()
  const hostId = joining?.hostId ?? (saved.hostId || newHostId())
  const settings: Settings = {...requested, bridgeIp: requested.bridgeIp ?? (await docker.engine.bridgeGateway()), hostId}
  const tls = await registryIdentities(clients, settings, joining)
  const context: UpContext = {clients, changes: new RunChanges(), docker, outcomes: {}, settings, signal, tls}
  await bringUp(context)
  const changed = (Object.keys(settings) as Array<keyof Settings>).some((key) => JSON.stringify(settings[key]) !== JSON.stringify(saved[key]))
  if (changed) saveSettings(settings, clients.env)
  // dns-setup's runtime-only settings (resolved per link, resolvconf) vanish with a reboot or a new docker0.
  const resolver = await checkRuntimeSetup('/', systemRunner(), settings)
  // Each code change or version builds a new tag beside the old ones: after the swap, none of the old
  // ones is used by highway (a user's container still on one keeps it).
  const images = await removeUnusedImages(docker, context.image!).then(
    (removed) => ({removed}),
    (error: Error) => ({error: error.message, removed: []}),
  )
  return {image: context.image!, images, outcomes: context.outcomes, resolver, settings}
}
