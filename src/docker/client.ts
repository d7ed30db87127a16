import Docker from 'dockerode'
import {UserError} from '../core/errors.js'
import {eachLine, followStream} from './streams.js'
import {API_VERSION, describeDockerHost, dockerSocketPath, engineUnreachable, REQUEST_TIMEOUT_MS} from './summary.js'
export {DEFAULT_DOCKER_SOCKET, describeDockerHost, displayName, dockerSocketPath, engineUnreachable, imageLabelsOf} from './summary.js'
import type {
  BuildRequest,
  ContainerClient,
  ContainerDetails,
  ContainerEvent,
  ContainerSpec,
  ContainerSummary,
  DockerClient,
  EngineClient,
  EventClient,
  EventSubscription,
  HostIdentity,
  EngineInfo,
  ImageClient,
  ImageSummary,
  NetworkClient,
  VolumeClient,
} from './types.js'

/**
 * The one door to the Docker engine: highway's interfaces (types.ts) on dockerode. dockerode reads
 * DOCKER_HOST (and its TLS variables) itself; API 1.41 is what Debian's engine speaks, and newer
 * engines still accept it.
 */
export function isNotFound(error: unknown): boolean {
  return (error as {statusCode?: number}).statusCode === 404
}

export function isConflict(error: unknown): boolean {
  return (error as {statusCode?: number}).statusCode === 409
}

/** The first host address of an IPv4 subnet: where Docker puts a bridge's gateway unless told otherwise. */
export function firstHost(subnet: string): string | undefined {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(subnet)
  if (!match) return undefined
  const octets = match.slice(1, 5).map(Number)
  const prefix = Number(match[5])
  if (octets.some((octet) => octet > 255) || prefix > 30) return undefined
  const first = octets.reduce((value, octet) => value * 256 + octet, 0) + 1
  return [24, 16, 8, 0].map((shift) => Math.floor(first / 2 ** shift) % 256).join('.')
}

/** The engine's ID, made safe for an etcd key: stable across restarts, distinct per engine. */
export function identityFromInfo(info: {ID?: string; Name?: string}): HostIdentity {
  const id = (info.ID ?? info.Name ?? 'unknown')
    .replaceAll(/[^A-Za-z0-9]/g, '')
    .slice(0, 16)
    .toLowerCase()
  return {id: id || 'unknown', name: info.Name ?? id}
}

/**
 * The default bridge's gateway. Engines before 23 leave Gateway out of the default bridge's IPAM
 * config; Docker then uses the subnet's first address.
 */
export function gatewayFromNetwork(network: {IPAM?: {Config?: Array<{Gateway?: string; Subnet?: string}>}}): string | undefined {
  const configs = network.IPAM?.Config ?? []
  return configs.find((config) => config.Gateway)?.Gateway ?? configs.map((config) => (config.Subnet ? firstHost(config.Subnet) : undefined)).find(Boolean)
}

/** Resolves to null on 404, so "gone" is an answer rather than an exception for every caller. */
async function unlessNotFound<T>(request: Promise<T>): Promise<T | null> {
  try {
    return await request
  } catch (error) {
    if (isNotFound(error)) return null
    throw error
  }
}

class DockerodeEngine implements EngineClient {
  readonly address: string
  readonly socketPath: string

  constructor(
    private readonly api: Docker,
    private readonly env: NodeJS.ProcessEnv,
  ) {
    this.address = describeDockerHost(env)
    this.socketPath = dockerSocketPath(env)
  }

  async assertReachable(): Promise<void> {
    try {
      await this.api.ping()
    } catch (error) {
      throw engineUnreachable(this.env, error)
    }
  }

  async identity(): Promise<HostIdentity> {
    return identityFromInfo((await this.api.info()) as {ID?: string; Name?: string})
  }

  async info(): Promise<EngineInfo> {
    return (await this.api.info()) as EngineInfo
  }

  async bridgeGateway(): Promise<string> {
    const gateway = gatewayFromNetwork(await this.api.getNetwork('bridge').inspect())
    if (!gateway) {
      throw new UserError('the docker "bridge" network has no gateway address', {
        suggestion: 'pass --bridge-ip with the address containers use to reach this host',
      })
    }
    return gateway
  }
}

class DockerodeContainers implements ContainerClient {
  constructor(private readonly api: Docker) {}

  list(labels: string[]): Promise<ContainerSummary[]> {
    return this.api.listContainers({all: true, filters: {label: labels}})
  }

  listRunning(): Promise<ContainerSummary[]> {
    return this.api.listContainers()
  }

  inspect(id: string): Promise<ContainerDetails | null> {
    return unlessNotFound(this.api.getContainer(id).inspect())
  }

  async create(spec: ContainerSpec & {name: string}): Promise<string> {
    return (await this.api.createContainer(spec)).id
  }

  async start(id: string): Promise<void> {
    try {
      await this.api.getContainer(id).start()
    } catch (error) {
      // 304: already started, e.g. by its restart policy between the listing that found it down and now.
      if ((error as {statusCode?: number}).statusCode !== 304) throw error
    }
  }

  async stop(id: string, timeoutSeconds: number): Promise<void> {
    try {
      await this.api.getContainer(id).stop({t: timeoutSeconds})
    } catch (error) {
      // 304: already stopped.
      if ((error as {statusCode?: number}).statusCode !== 304) throw error
    }
  }

  async rename(id: string, name: string): Promise<void> {
    await this.api.getContainer(id).rename({name})
  }

  async remove(id: string): Promise<void> {
    try {
      await this.api.getContainer(id).remove({force: true, v: false})
    } catch (error) {
      // 409: a removal already in progress, which ends the same way.
      if (!isNotFound(error) && !isConflict(error)) throw error
    }
  }
}

class DockerodeVolumes implements VolumeClient {
  constructor(private readonly api: Docker) {}

  async labels(name: string): Promise<Record<string, string> | null> {
    const volume = await unlessNotFound(this.api.getVolume(name).inspect())
    return volume ? (volume.Labels ?? {}) : null
  }

  async create(name: string, labels: Record<string, string>): Promise<void> {
    await this.api.createVolume({Labels: labels, Name: name})
  }

  async remove(name: string): Promise<void> {
    await unlessNotFound(this.api.getVolume(name).remove())
  }
}

class DockerodeNetworks implements NetworkClient {
  constructor(private readonly api: Docker) {}

  async labels(name: string): Promise<Record<string, string> | null> {
    const network = await unlessNotFound(this.api.getNetwork(name).inspect() as Promise<{Labels?: Record<string, string>}>)
    return network ? (network.Labels ?? {}) : null
  }

  async create(name: string, labels: Record<string, string>): Promise<void> {
    await this.api.createNetwork({CheckDuplicate: true, Driver: 'bridge', Labels: labels, Name: name})
  }

  async remove(name: string): Promise<void> {
    await unlessNotFound(this.api.getNetwork(name).remove())
  }
}

class DockerodeImages implements ImageClient {
  constructor(private readonly api: Docker) {}

  async exists(reference: string): Promise<boolean> {
    return (await unlessNotFound(this.api.getImage(reference).inspect())) !== null
  }

  async id(reference: string): Promise<string | null> {
    return (await unlessNotFound(this.api.getImage(reference).inspect()))?.Id ?? null
  }

  async list(labels: string[]): Promise<ImageSummary[]> {
    const images = await this.api.listImages({filters: {label: labels}})
    // A dangling image is listed with the tag `<none>:<none>`: that names nothing.
    return images.map((image) => ({id: image.Id, labels: image.Labels ?? {}, tags: (image.RepoTags ?? []).filter((tag) => tag !== '<none>:<none>')}))
  }

  async removeTag(reference: string): Promise<boolean> {
    try {
      await unlessNotFound(this.api.getImage(reference).remove({force: false, noprune: false}))
      return true
    } catch (error) {
      if (isConflict(error)) return false
      throw error
    }
  }

  async labels(image: string): Promise<Record<string, string> | null> {
    const info = await unlessNotFound(this.api.getImage(image).inspect())
    return info ? (info.Config?.Labels ?? {}) : null
  }

  async pull(reference: string, onLine: (text: string) => void): Promise<void> {
    await followStream(await this.api.pull(reference), onLine)
  }

  async build(request: BuildRequest, onLine: (text: string) => void): Promise<void> {
    const stream = await this.api.buildImage(
      {context: request.context, src: request.files},
      // forcerm: the container of a failed step is removed too (rm alone keeps it, exited, for debugging).
      {buildargs: request.buildArgs, forcerm: true, labels: request.labels, rm: true, t: request.tag},
    )
    await followStream(stream, onLine)
  }
}

class DockerodeEvents implements EventClient {
  constructor(private readonly api: Docker) {}

  async containers(label: string, onEvent: (event: ContainerEvent) => void, onEnd: (error?: Error) => void): Promise<EventSubscription> {
    const stream = (await this.api.getEvents({filters: {label: [label], type: ['container']}})) as NodeJS.ReadableStream & {destroy?: () => void}
    let ended = false
    const end = (error?: Error) => {
      if (ended) return
      ended = true
      onEnd(error)
    }
    eachLine(stream, (line) => {
      const event = parseEvent(line)
      if (event) onEvent(event)
    })
    stream.on('end', () => end())
    stream.on('error', (error: Error) => end(error))
    return {
      close: () => {
        ended = true
        stream.destroy?.()
      },
    }
  }
}

/** One line of Docker's event stream, or null for anything that is not a container event with an ID. */
export function parseEvent(line: string): ContainerEvent | null {
  let event: {Action?: string; id?: string; Actor?: {ID?: string; Attributes?: Record<string, string>}}
  try {
    event = JSON.parse(line)
  } catch {
    return null
  }
  const id = event.Actor?.ID ?? event.id
  if (!id || !event.Action) return null
  const action = event.Action.split(':')[0]
  const signal = Number(event.Actor?.Attributes?.signal)
  return action === 'kill' && Number.isInteger(signal) ? {action, id, signal} : {action, id}
}

/** The real engine behind highway's interfaces. Build it once per process (see src/clients.ts). */
export function createDockerClient(env: NodeJS.ProcessEnv = process.env): DockerClient {
  const api = new Docker({timeout: REQUEST_TIMEOUT_MS, version: API_VERSION})
  return {
    containers: new DockerodeContainers(api),
    engine: new DockerodeEngine(api, env),
    events: new DockerodeEvents(new Docker({version: API_VERSION})),
    images: new DockerodeImages(api),
    networks: new DockerodeNetworks(api),
    volumes: new DockerodeVolumes(api),
  }
}
