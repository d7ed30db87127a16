import type Docker from 'dockerode'
import {Listr, type ListrTask} from 'listr2'
import type {Component} from '../core/labels.js'
import type {Settings} from '../core/types.js'
import {waitFor} from '../core/wait.js'
import {ensureInfraImage} from '../docker/image.js'
import {Registry} from '../registry/etcd.js'
import {componentSpecs, etcdEndpoints, etcdUrl, type ComponentSpec} from './components.js'
import {CreatedThisRun, ensureContainer, ensureVolume, type EnsureOutcome} from './containers.js'
import {probeDns, probeEtcd, probeProxy} from './probes.js'

export interface UpContext {
  docker: Docker
  settings: Settings
  hostId: string
  dockerSocket: string
  signal: AbortSignal
  created: CreatedThisRun
  /** Per component, what this run did; read by the command for its summary. */
  outcomes: Partial<Record<Component, EnsureOutcome>>
  image?: string
}

/** How long each component may take to answer before `up` gives up and names it. */
export const READY_TIMEOUT_MS: Record<Component, number> = {agent: 30_000, dns: 15_000, etcd: 30_000, proxy: 15_000}

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
async function agentReady(context: UpContext, since: number): Promise<string> {
  const fresh = context.outcomes.agent !== 'unchanged'
  const registry = new Registry({callTimeout: 2000, endpoints: etcdEndpoints(context.settings)})
  try {
    return await waitFor(
      async () => {
        const report = (await registry.listAgents()).find((agent) => agent.hostId === context.hostId)
        if (report?.lastReconcileAt && (!fresh || Date.parse(report.lastReconcileAt) >= since - 1000)) return `${report.routes} routes`
        return undefined
      },
      {interval: 200, message: 'the route agent did not report a reconcile to etcd', signal: context.signal, timeout: READY_TIMEOUT_MS.agent},
    )
  } finally {
    registry.close()
  }
}

function readiness(context: UpContext, component: Component, since: number): Promise<string> {
  const {bridgeIp, domain} = context.settings
  const options = {interval: 100, signal: context.signal, timeout: READY_TIMEOUT_MS[component]}
  switch (component) {
    case 'etcd': {
      const url = etcdUrl(context.settings)
      return waitFor(() => probeEtcd(url), {...options, message: `etcd did not report healthy at ${url}/health`})
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
 * SIGINT handler is off because Ctrl-C must remove what this run created (the command does that).
 */
export async function runUp(context: UpContext): Promise<void> {
  const specsFor = (image: string) => componentSpecs({dockerSocket: context.dockerSocket, image, settings: context.settings})
  const tasks = new Listr<UpContext>(
    [
      {
        task: async (ctx, task) => {
          ctx.image = await abortable(
            ensureInfraImage(ctx.docker, ctx.settings.baseImage, (line) => (task.output = line)),
            ctx.signal,
          )
          task.title = `image ${ctx.image}`
        },
        title: 'image',
      },
      {
        task: (ctx, task) =>
          task.newListr(
            specsFor(ctx.image!).map((spec) => componentTask(spec)),
            {concurrent: false, exitOnError: true},
          ),
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
