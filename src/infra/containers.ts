import type Docker from 'dockerode'
import {UserError} from '../core/errors.js'
import {COMPONENT, MANAGED, SPEC} from '../core/labels.js'
import {isNotFound, listManaged, removeContainer} from '../docker/client.js'
import type {ComponentSpec} from './components.js'

export type EnsureOutcome = 'created' | 'recreated' | 'started' | 'unchanged'

/** What one `up` created, so a failure or Ctrl-C removes exactly that and nothing else. */
export class CreatedThisRun {
  readonly containers: string[] = []
  readonly volumes: string[] = []

  async rollback(docker: Docker): Promise<void> {
    for (const id of this.containers.reverse()) await removeContainer(docker, id)
    for (const name of this.volumes)
      await docker
        .getVolume(name)
        .remove()
        .catch(() => {})
    this.containers.length = 0
    this.volumes.length = 0
  }
}

export async function ensureVolume(docker: Docker, name: string, created: CreatedThisRun): Promise<void> {
  try {
    await docker.getVolume(name).inspect()
  } catch (error) {
    if (!isNotFound(error)) throw error
    await docker.createVolume({Labels: {[MANAGED]: 'true'}, Name: name})
    created.volumes.push(name)
  }
}

/** Names what holds a port on the bridge IP: another container when Docker knows, else a host process. */
async function portHolder(docker: Docker, bridgeIp: string, port: number, protocol: string): Promise<string> {
  const containers = await docker.listContainers()
  const holder = containers.find((container) =>
    container.Ports.some((binding) => binding.PublicPort === port && binding.Type === protocol && (binding.IP === bridgeIp || binding.IP === '0.0.0.0')),
  )
  if (holder) return `container ${holder.Names[0]?.replace(/^\//, '') ?? holder.Id.slice(0, 12)} (${holder.Image})`
  return `another process on this host (see \`ss -lnp 'sport = :${port}'\`)`
}

async function start(docker: Docker, spec: ComponentSpec, id: string): Promise<void> {
  try {
    await docker.getContainer(id).start()
  } catch (error) {
    const message = (error as Error).message
    if (/port is already allocated|address already in use|bind: /i.test(message)) {
      const {bridgeIp} = spec
      const taken = spec.ports.find(({port}) => message.includes(`:${port}`)) ?? spec.ports[0]
      const holder = await portHolder(docker, bridgeIp, taken.port, taken.protocol)
      throw new UserError(`port ${taken.port}/${taken.protocol} on ${bridgeIp} is taken by ${holder}, so the ${spec.component} cannot start`, {
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
export async function ensureContainer(docker: Docker, spec: ComponentSpec, created: CreatedThisRun): Promise<EnsureOutcome> {
  const existing = (await listManaged(docker, spec.component)).filter((container) => container.Labels[MANAGED] === 'true')
  const wanted = spec.create.Labels?.[SPEC]
  const current = existing.find((container) => container.Labels[SPEC] === wanted)
  for (const stale of existing.filter((container) => container !== current)) await removeContainer(docker, stale.Id)
  if (current) {
    if (current.State === 'running') return 'unchanged'
    await start(docker, spec, current.Id)
    return 'started'
  }
  try {
    const other = await docker.getContainer(spec.name).inspect()
    if (other.Config.Labels?.[COMPONENT] !== spec.component) {
      throw new UserError(`a container named ${spec.name} exists and is not highway's`, {
        suggestion: `rename or remove it (\`docker rm -f ${spec.name}\`) and run \`highway up\` again`,
      })
    }
  } catch (error) {
    if (!isNotFound(error)) throw error
  }
  const container = await docker.createContainer(spec.create)
  created.containers.push(container.id)
  await start(docker, spec, container.id)
  return existing.length > 0 ? 'recreated' : 'created'
}
