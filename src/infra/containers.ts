import {UserError} from '../core/errors.js'
import {COMPONENT, labelsSetAtCreate, MANAGED, SPEC, type Component} from '../core/labels.js'
import {displayName} from '../docker/client.js'
import type {ContainerSummary, DockerClient} from '../docker/types.js'
import type {ComponentSpec} from './components.js'

export type EnsureOutcome = 'created' | 'recreated' | 'started' | 'unchanged'

/**
 * highway's infrastructure containers, found by label (never by name alone), one component or all:
 * only those `up` created. An image built with highway's labels passes them to every container of
 * it, so the component label must have been given at create. (highway's own image carries
 * io.highway.managed itself, so that one label cannot tell; only `up` sets the component.)
 */
export async function listManaged(docker: DockerClient, component?: Component): Promise<ContainerSummary[]> {
  const labelled = await docker.containers.list(component ? [`${MANAGED}=true`, `${COMPONENT}=${component}`] : [`${MANAGED}=true`])
  const images = new Map<string, Promise<Record<string, string> | null>>()
  const ours: ContainerSummary[] = []
  for (const container of labelled) {
    if (!images.has(container.ImageID)) images.set(container.ImageID, docker.images.labels(container.ImageID))
    if (labelsSetAtCreate(container.Labels, await images.get(container.ImageID)!)[COMPONENT] !== undefined) ours.push(container)
  }
  return ours
}

/** What one `up` created, so a failure or Ctrl-C removes exactly that and nothing else. */
export class CreatedThisRun {
  readonly containers: string[] = []
  readonly volumes: string[] = []
  readonly networks: string[] = []

  async rollback(docker: DockerClient): Promise<void> {
    for (const id of this.containers.reverse()) await docker.containers.remove(id)
    for (const name of this.volumes) await docker.volumes.remove(name).catch(() => {})
    for (const name of this.networks) await docker.networks.remove(name).catch(() => {})
    this.containers.length = 0
    this.volumes.length = 0
    this.networks.length = 0
  }
}

export async function ensureVolume(docker: DockerClient, name: string, created: CreatedThisRun): Promise<void> {
  if ((await docker.volumes.labels(name)) !== null) return
  await docker.volumes.create(name, {[MANAGED]: 'true'})
  created.volumes.push(name)
}

export async function ensureNetwork(docker: DockerClient, name: string, created: CreatedThisRun): Promise<void> {
  const labels = await docker.networks.labels(name)
  if (labels !== null) {
    if (labels[MANAGED] === 'true') return
    throw new UserError(`a Docker network named ${name} exists and is not highway's`, {
      suggestion: `remove it (\`docker network rm ${name}\`) or rename it, and run \`highway up\` again`,
    })
  }
  await docker.networks.create(name, {[MANAGED]: 'true'})
  created.networks.push(name)
}

/** Names what holds a port on the bridge IP: another container when Docker knows, else a host process. */
async function portHolder(docker: DockerClient, address: string, port: number, protocol: string): Promise<string> {
  const holder = (await docker.containers.listRunning()).find((container) =>
    container.Ports.some((binding) => binding.PublicPort === port && binding.Type === protocol && (binding.IP === address || binding.IP === '0.0.0.0')),
  )
  if (holder) return `container ${displayName(holder)} (${holder.Image})`
  return `another process on this host (see \`ss -lnp 'sport = :${port}'\`)`
}

async function start(docker: DockerClient, spec: ComponentSpec, id: string): Promise<void> {
  try {
    await docker.containers.start(id)
  } catch (error) {
    const message = (error as Error).message
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

/**
 * Brings one component to its spec: nothing when it already runs that spec, a start when it is
 * stopped, a new container when it is missing or its spec changed.
 */
export async function ensureContainer(docker: DockerClient, spec: ComponentSpec, created: CreatedThisRun): Promise<EnsureOutcome> {
  const existing = await listManaged(docker, spec.component)
  const wanted = spec.create.Labels?.[SPEC]
  const current = existing.find((container) => container.Labels[SPEC] === wanted)
  for (const stale of existing.filter((container) => container !== current)) await docker.containers.remove(stale.Id)
  if (current) {
    if (current.State === 'running') return 'unchanged'
    await start(docker, spec, current.Id)
    return 'started'
  }
  const other = await docker.containers.inspect(spec.name)
  if (other && !existing.some((container) => container.Id === other.Id)) {
    throw new UserError(`a container named ${spec.name} exists and is not highway's`, {
      suggestion: `rename or remove it (\`docker rm -f ${spec.name}\`) and run \`highway up\` again`,
    })
  }
  const id = await docker.containers.create(spec.create)
  created.containers.push(id)
  await start(docker, spec, id)
  return existing.length > 0 ? 'recreated' : 'created'
}
