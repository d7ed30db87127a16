import type Docker from 'dockerode'

/**
 * What highway needs of a Docker engine, and nothing more: one small interface per concern, after
 * testcontainers-node's container/image client split. `client.ts` implements them on dockerode;
 * tests of the agent hand in fakes. Container documents keep Docker's own shapes (dockerode's
 * types), so pure code such as recordFromContainer reads exactly what the engine sends.
 */
export type ContainerSummary = Docker.ContainerInfo
export type ContainerDetails = Docker.ContainerInspectInfo
export type ContainerSpec = Docker.ContainerCreateOptions

export interface HostIdentity {
  id: string
  name: string
}

export interface EngineClient {
  /** Where the engine is, for messages: DOCKER_HOST or the default socket. */
  readonly address: string
  /** The engine's socket path on this host, for the agent's bind mount. */
  readonly socketPath: string
  /** Resolves when the engine answers; rejects with a one-line UserError saying how to start it. */
  assertReachable(): Promise<void>
  identity(): Promise<HostIdentity>
  /** The default bridge's gateway: where highway's listeners bind on this host. */
  bridgeGateway(): Promise<string>
  /** What `docker info` says of the engine: enough to tell whether this host can reach its bridge (see reachability.ts). */
  info(): Promise<EngineInfo>
}

/** The fields of the engine's /info that highway reads (Docker's own names). */
export interface EngineInfo {
  Name?: string
  OperatingSystem?: string
  KernelVersion?: string
  /** "name=seccomp,profile=builtin", "name=rootless", ... */
  SecurityOptions?: string[]
}

export interface ContainerClient {
  /** Containers carrying every one of `labels` (`key` or `key=value`), running or not. */
  list(labels: string[]): Promise<ContainerSummary[]>
  /** Only running containers (what holds a published port). */
  listRunning(): Promise<ContainerSummary[]>
  /** null when the container does not exist (any more). */
  inspect(id: string): Promise<ContainerDetails | null>
  /** Creates the container (named by `spec.name`) and returns its ID. */
  create(spec: ContainerSpec & {name: string}): Promise<string>
  start(id: string): Promise<void>
  /** Stops the container (its stop signal, then SIGKILL after `timeoutSeconds`); one already stopped counts as stopped. */
  stop(id: string, timeoutSeconds: number): Promise<void>
  rename(id: string, name: string): Promise<void>
  /** Removes the container, running or not; one already gone counts as removed. */
  remove(id: string): Promise<void>
}

/** What reading highway's state needs of the engine (`ls`, `status`): labelled containers and image labels. */
export interface DockerReader {
  containers: Pick<ContainerClient, 'list'>
  images: Pick<ImageClient, 'labels'>
}

export interface VolumeClient {
  /** The volume's labels, or null when it does not exist. */
  labels(name: string): Promise<Record<string, string> | null>
  create(name: string, labels: Record<string, string>): Promise<void>
  /** One already gone counts as removed. */
  remove(name: string): Promise<void>
}

/** Highway's own networks: a bridge each, found again by name and checked by label. */
export interface NetworkClient {
  /** The network's labels, or null when it does not exist. */
  labels(name: string): Promise<Record<string, string> | null>
  create(name: string, labels: Record<string, string>): Promise<void>
  /** One already gone counts as removed. */
  remove(name: string): Promise<void>
}

export interface BuildRequest {
  /** Directory holding the Dockerfile, and the files of it to send. */
  context: string
  files: string[]
  tag: string
  buildArgs: Record<string, string>
  labels: Record<string, string>
}

export interface ImageSummary {
  id: string
  /** `repository:tag` references; none for a dangling image. */
  tags: string[]
  labels: Record<string, string>
}

export interface ImageClient {
  exists(reference: string): Promise<boolean>
  /** The image's ID (`sha256:...`, a digest of its config and so of its contents), or null when it is not on the engine. */
  id(reference: string): Promise<string | null>
  /** Images carrying every one of `labels` (`key` or `key=value`), with their tags and labels. */
  list(labels: string[]): Promise<ImageSummary[]>
  /**
   * Removes one tag (`repository:tag`), never forced: the image goes with its last tag. Resolves
   * false when the engine refuses because a container uses the image; a tag already gone counts as removed.
   */
  removeTag(reference: string): Promise<boolean>
  /**
   * The labels baked into an image (its ID or a reference), null when it does not exist: a
   * container's labels include these, and only the ones set when it was created are its own.
   */
  labels(image: string): Promise<Record<string, string> | null>
  /** Pulls, reporting progress line by line; rejects on the first error line. */
  pull(reference: string, onLine: (text: string) => void): Promise<void>
  /** Builds, reporting progress line by line; rejects on the first error line. */
  build(request: BuildRequest, onLine: (text: string) => void): Promise<void>
}

/** The part of a Docker event the agent acts on: which container, and what happened to it. */
export interface ContainerEvent {
  id: string
  /** Docker's action without its detail: "health_status: healthy" arrives as "health_status". */
  action: string
  /** The signal a `kill` event sent (docker stop sends the container's stop signal, then maybe SIGKILL). */
  signal?: number
}

export interface EventSubscription {
  close(): void
}

export interface EventClient {
  /**
   * Container events for containers carrying `label`, from now on. `onEnd` is called once when the
   * stream ends or breaks (the daemon restarted): subscribe again, and re-list rather than trust a replay.
   */
  containers(label: string, onEvent: (event: ContainerEvent) => void, onEnd: (error?: Error) => void): Promise<EventSubscription>
}

/** Everything highway asks of one engine, built once per process by `createDockerClient`. */
export interface DockerClient {
  engine: EngineClient
  containers: ContainerClient
  volumes: VolumeClient
  networks: NetworkClient
  images: ImageClient
  events: EventClient
}
