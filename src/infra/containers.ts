import {UserError} from '../core/errors.js'
import {COMPONENT, labelsSetAtCreate, MANAGED, SPEC, type Component} from '../core/labels.js'
import {displayName, imageLabelsOf} from '../docker/summary.js'
import type {ContainerSpec, ContainerSummary, DockerClient, DockerReader} from '../docker/types.js'
import type {ComponentSpec} from './components.js'

export type EnsureOutcome = 'created' | 'recreated' | 'started' | 'unchanged'

/** A replacement runs under this name until every component of the run answers. */
export const nextName = (name: string) => `${name}-next`
/** How long an old component gets to stop before it is killed (etcd and the agent finish cleanly well within it). */
const STOP_SECONDS = 10
const ONE_SHOT_TIMEOUT_MS = 60_000

/**
 * highway's infrastructure containers, found by label (never by name alone), one component or all:
 * only those `up` created. An image built with highway's labels passes them to every container of
 * it, so the component label must have been given at create. (highway's own image carries
 * io.highway.managed itself, so that one label cannot tell; only `up` sets the component.)
 */
export async function listManaged(docker: DockerReader, component?: Component): Promise<ContainerSummary[]> {
  const labelled = await docker.containers.list(component ? [`${MANAGED}=true`, `${COMPONENT}=${component}`] : [`${MANAGED}=true`])
  const images = await imageLabelsOf(docker.images, labelled)
  return labelled.filter((container) => labelsSetAtCreate(container.Labels, images.get(container.ImageID) ?? null)[COMPONENT] !== undefined)
}

/**
 * What one `up` changed, so it ends in one of two states: every change made (commit), or the
 * highway it found put back (rollback, on a failure or Ctrl-C). A replaced component's old
 * container is stopped, never removed, until the whole run has answered: then it goes, and the
 * replacement takes its name. Stopped rather than left running because each component holds a
 * published port on the same address (etcd 2379, proxy 80, dns 53) or, for etcd, the data
 * directory; the agent has neither but two agents would hold the same records under two leases.
 */
export class RunChanges {
  /** Containers this run created, fresh components and replacements alike. */
  readonly containers: string[] = []
  readonly volumes: string[] = []
  readonly networks: string[] = []
  /** Old containers stopped for a replacement, and whether they ran before. */
  readonly replaced: Array<{id: string; wasRunning: boolean}> = []
  /** Replacements running under a temporary name, and the name they take on commit. */
  readonly renames: Array<{id: string; name: string}> = []

  async commit(docker: DockerClient): Promise<void> {
    for (const {id} of this.replaced) await docker.containers.remove(id)
    for (const {id, name} of this.renames) await docker.containers.rename(id, name)
    this.clear()
  }

  /** Removes what this run created, then starts again what it stopped (the agent, which needs the others, last). */
  async rollback(docker: DockerClient): Promise<void> {
    for (const id of this.containers.reverse()) await docker.containers.remove(id)
    const failures: string[] = []
    for (const {id, wasRunning} of this.replaced) {
      if (wasRunning) await docker.containers.start(id).catch((error: Error) => failures.push(`${id.slice(0, 12)}: ${error.message}`))
    }
    for (const name of this.volumes) await docker.volumes.remove(name).catch(() => {})
    for (const name of this.networks) await docker.networks.remove(name).catch(() => {})
    this.clear()
    if (failures.length > 0) throw new Error(`could not start the previous components again: ${failures.join('; ')}`)
  }

  private clear(): void {
    this.containers.length = 0
    this.volumes.length = 0
    this.networks.length = 0
    this.replaced.length = 0
    this.renames.length = 0
  }
}

/** Returns whether this run created the volume (an existing one may come from an older highway). */
export async function ensureVolume(docker: DockerClient, name: string, changes: RunChanges): Promise<boolean> {
  if ((await docker.volumes.labels(name)) !== null) return false
  await docker.volumes.create(name, {[MANAGED]: 'true'})
  changes.volumes.push(name)
  return true
}

export async function ensureNetwork(docker: DockerClient, name: string, changes: RunChanges): Promise<void> {
  const labels = await docker.networks.labels(name)
  if (labels !== null) {
    if (labels[MANAGED] === 'true') return
    throw new UserError(`a Docker network named ${name} exists and is not highway's`, {
      suggestion: `remove it (\`docker network rm ${name}\`) or rename it, and run \`highway up\` again`,
    })
  }
  await docker.networks.create(name, {[MANAGED]: 'true'})
  changes.networks.push(name)
}

/** Addresses a listener holds every address of: the bridge's included. */
export const WILDCARD_ADDRESSES = new Set(['0.0.0.0', '*', '[::]', '::'])

/** The running container that publishes `address:port` (or that port on every address), if Docker knows one. */
export async function containerOnPort(docker: DockerClient, address: string, port: number, protocol: string): Promise<ContainerSummary | undefined> {
  return (await docker.containers.listRunning()).find((container) =>
    container.Ports.some(
      (binding) => binding.PublicPort === port && binding.Type === protocol && (binding.IP === address || WILDCARD_ADDRESSES.has(binding.IP)),
    ),
  )
}

/** Names what holds a port on the bridge IP: another container when Docker knows, else a host process. */
async function portHolder(docker: DockerClient, address: string, port: number, protocol: string): Promise<string> {
  const holder = await containerOnPort(docker, address, port, protocol)
  if (holder) return `container ${displayName(holder)} (${holder.Image})`
  return `another process on this host (see \`ss -lnp 'sport = :${port}'\`)`
}

async function start(docker: DockerClient, spec: ComponentSpec, id: string): Promise<void> {
  try {
    await docker.containers.start(id)
  } catch (error) {
    const message = (error as Error).message
    if (/cannot assign requested address/i.test(message)) {
      const address = spec.ports.find((port) => message.includes(port.address))?.address ?? spec.ports[0]?.address
      throw new UserError(`${address} is not an address of this host, so the ${spec.component} cannot listen on it`, {
        suggestion: 'give `highway up --bridge-ip` (and `--advertise-ip`) an address of this host (the docker bridge gateway by default)',
        cause: error,
      })
    }
    if (/port is already allocated|address already in use|bind: /i.test(message)) {
      const taken =
        spec.ports.find(({address, port}) => message.includes(`${address}:${port}`)) ??
        spec.ports.find(({port}) => message.includes(`:${port}`)) ??
        spec.ports[0]
      const holder = await portHolder(docker, taken.address, taken.port, taken.protocol)
      throw new UserError(`port ${taken.port}/${taken.protocol} on ${taken.address} is taken by ${holder}, so the ${spec.component} cannot start`, {
        suggestion: `free that port, or run highway on another address with \`highway up --bridge-ip <ip>\``,
        cause: error,
      })
    }
    throw error
  }
}

/** A container under `name` that `up` did not create (not among `ours`) is the user's: never touched. */
async function refuseForeign(docker: DockerClient, name: string, ours: ContainerSummary[]): Promise<void> {
  const other = await docker.containers.inspect(name)
  if (other && !ours.some((container) => container.Id === other.Id)) {
    throw new UserError(`a container named ${name} exists and is not highway's`, {
      suggestion: `rename or remove it (\`docker rm -f ${name}\`) and run \`highway up\` again`,
    })
  }
}

/** Runs a one-shot helper to its end and removes it; rejects when it fails. */
export async function runOnce(docker: DockerClient, spec: ContainerSpec & {name: string}, timeoutMs = ONE_SHOT_TIMEOUT_MS): Promise<void> {
  await docker.containers.remove(spec.name)
  const id = await docker.containers.create(spec)
  try {
    await docker.containers.start(id)
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const state = (await docker.containers.inspect(id))?.State
      if (!state) throw new Error(`${spec.name} vanished while it ran`)
      if (!state.Running) {
        if (state.ExitCode !== 0) throw new Error(`${spec.name} (${(spec.Cmd ?? []).join(' ')}) exited with code ${state.ExitCode}`)
        return
      }
      if (Date.now() > deadline) throw new Error(`${spec.name} did not finish within ${timeoutMs} ms`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  } finally {
    await docker.containers.remove(id)
  }
}

/**
 * Brings one component to its spec: nothing when it already runs that spec, a start when it is
 * stopped, a new container when it is missing. When its spec changed, the old container is stopped
 * (kept, see RunChanges) and the replacement started under a temporary name; `up` commits once
 * every component answers. `prepare` runs the component's one-shot helper, when it must.
 */
export async function ensureContainer(
  docker: DockerClient,
  spec: ComponentSpec,
  changes: RunChanges,
  options: {prepare?: boolean} = {},
): Promise<EnsureOutcome> {
  const existing = await listManaged(docker, spec.component)
  const wanted = spec.create.Labels?.[SPEC]
  const old = existing.find((container) => displayName(container) === spec.name)
  // Anything else is left over from a run that died midway (a replacement under its temporary name).
  for (const leftover of existing.filter((container) => container !== old)) await docker.containers.remove(leftover.Id)
  if (old && old.Labels[SPEC] === wanted) {
    if (old.State === 'running') return 'unchanged'
    await start(docker, spec, old.Id)
    return 'started'
  }
  const name = old ? nextName(spec.name) : spec.name
  await refuseForeign(docker, name, existing)
  if (old) {
    changes.replaced.push({id: old.Id, wasRunning: old.State === 'running'})
    await docker.containers.stop(old.Id, STOP_SECONDS)
  }
  if (spec.prepare && options.prepare) await runOnce(docker, spec.prepare)
  const id = await docker.containers.create({...spec.create, name})
  changes.containers.push(id)
  if (old) changes.renames.push({id, name: spec.name})
  await start(docker, spec, id)
  return old ? 'recreated' : 'created'
}
