import {Listr, type ListrTask} from 'listr2'
import type {Clients} from '../clients.js'
import {UserError} from '../core/errors.js'
import type {Component} from '../core/labels.js'
import {LOOPBACK_ETCD_URL, loadSettings, newHostId, saveSettings} from '../core/settings.js'
import type {Settings} from '../core/types.js'
import {assertDomain, assertIPv4} from '../core/validate.js'
import {waitFor} from '../core/wait.js'
import {ensureInfraImage} from '../docker/image.js'
import type {DockerClient} from '../docker/types.js'
import {probeProxy} from '../proxy/client.js'
import {checkRuntimeSetup, systemRunner, type RuntimeCheck} from '../resolvers/index.js'
import {componentSpecs, type ComponentSpec} from './components.js'
import {CreatedThisRun, ensureContainer, ensureNetwork, ensureVolume, type EnsureOutcome} from './containers.js'
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
}

export interface UpResult {
  settings: Settings
  image: string
  /** Per component, what this run did to it. */
  outcomes: Partial<Record<Component, EnsureOutcome>>
  /** dns-setup's runtime-only settings, checked (and put back where allowed). */
  resolver: RuntimeCheck
}

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
  signal: AbortSignal
  created: CreatedThisRun
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
      return waitFor(() => probeEtcd(LOOPBACK_ETCD_URL), {...options, message: `etcd did not report healthy at ${LOOPBACK_ETCD_URL}/health`})
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
      for (const volume of spec.volumes) await ensureVolume(context.docker, volume, context.created)
      if (spec.network) await ensureNetwork(context.docker, spec.network, context.created)
      // Not abortable midway: a container whose create is still in flight when Ctrl-C lands would be
      // recorded only after the rollback ran, and be left behind. It takes well under a second.
      const outcome = await ensureContainer(context.docker, spec, context.created)
      context.signal.throwIfAborted()
      context.outcomes[spec.component] = outcome
      task.output = `${outcome}, waiting until it answers`
      const ready = await readiness(context, spec.component, since)
      task.title = `${spec.component}: ${outcome === 'unchanged' ? 'already running' : outcome}, ${ready}`
    },
    title: spec.component,
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
          const specs = componentSpecs({dockerSocket: ctx.docker.engine.socketPath, image: ctx.image!, settings: ctx.settings})
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
  } catch (error) {
    await context.created.rollback(context.docker)
    throw error
  }
}

/**
 * `highway up`: validates the request, brings every component to its spec, and remembers the
 * settings. On failure or abort it removes exactly what it created and rethrows.
 */
export async function runUp(clients: Clients, request: UpRequest, signal: AbortSignal): Promise<UpResult> {
  const saved = loadSettings(clients.env)
  const requested = validateRequest(request, saved)
  const docker = await clients.docker()
  const settings: Settings = {...requested, bridgeIp: requested.bridgeIp ?? (await docker.engine.bridgeGateway()), hostId: saved.hostId || newHostId()}
  const context: UpContext = {clients, created: new CreatedThisRun(), docker, outcomes: {}, settings, signal}
  await bringUp(context)
  const changed = (Object.keys(settings) as Array<keyof Settings>).some((key) => JSON.stringify(settings[key]) !== JSON.stringify(saved[key]))
  if (changed) saveSettings(settings, clients.env)
  // dns-setup's runtime-only settings (resolved per link, resolvconf) vanish with a reboot or a new docker0.
  const resolver = await checkRuntimeSetup('/', systemRunner(), settings)
  return {image: context.image!, outcomes: context.outcomes, resolver, settings}
}
