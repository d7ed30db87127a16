import type {
  ContainerClient,
  ContainerDetails,
  ContainerEvent,
  ContainerSpec,
  ContainerSummary,
  EventClient,
  EventSubscription,
  NetworkClient,
  ImageClient,
  VolumeClient,
} from '../../../src/docker/types.js'

/**
 * An in-memory Docker engine behind highway's interfaces: containers with labels, state and
 * published ports, an event stream that can be ended (a daemon restart), and inspects that can be
 * held back (Docker answers an inspect of a dying container only after its network teardown).
 * A fake, because those orders of events cannot be produced on purpose by a real engine; the e2e
 * suite runs the real one.
 */
export interface FakeContainer {
  id: string
  name: string
  labels: Record<string, string>
  running: boolean
  /** Container port ("9090/tcp") -> host port while running. */
  ports: Record<string, number>
  ip: string
  health?: 'healthy' | 'unhealthy' | 'starting'
  /** Its image, reference and ID alike. */
  image: string
  /** Docker's creation time, RFC 3339 with nanoseconds (trailing zeros trimmed, as Docker writes it). */
  created: string
  bindings: Record<string, Array<{HostIp: string; HostPort: string}>>
  /** Exits as soon as it starts (highway's one-shot helpers), with this code. */
  exitsWith?: number
  exitCode?: number
}

interface Subscriber {
  label: string
  onEvent: (event: ContainerEvent) => void
  onEnd: (error?: Error) => void
  open: boolean
}

const BRIDGE_IP = '172.17.0.1'

function details(container: FakeContainer): ContainerDetails {
  const ports = Object.fromEntries(
    Object.keys(container.bindings).map((port) => [
      port,
      container.running && container.ports[port] ? [{HostIp: BRIDGE_IP, HostPort: String(container.ports[port])}] : null,
    ]),
  )
  return {
    Config: {Image: container.image, Labels: {...container.labels}},
    Created: container.created,
    HostConfig: {PortBindings: container.bindings},
    Id: container.id,
    Image: container.image,
    Name: `/${container.name}`,
    NetworkSettings: {Networks: {bridge: {IPAddress: container.running ? container.ip : ''}}, Ports: ports},
    State: {
      Health: container.health ? {Status: container.health} : undefined,
      Paused: false,
      Restarting: false,
      Running: container.running,
      Status: container.running ? 'running' : 'exited',
      ExitCode: container.exitCode ?? 0,
    },
  } as unknown as ContainerDetails
}

function summary(container: FakeContainer): ContainerSummary {
  return {
    Id: container.id,
    Image: container.image,
    ImageID: container.image,
    Labels: {...container.labels},
    Names: [`/${container.name}`],
    Ports: container.running
      ? Object.entries(container.ports).map(([port, hostPort]) => ({
          IP: BRIDGE_IP,
          PrivatePort: Number.parseInt(port, 10),
          PublicPort: hostPort,
          Type: port.split('/')[1] ?? 'tcp',
        }))
      : [],
    State: container.running ? 'running' : 'exited',
  } as unknown as ContainerSummary
}

function matches(labels: Record<string, string>, filter: string): boolean {
  const [key, value] = filter.split('=', 2)
  return value === undefined ? key in labels : labels[key] === value
}

/** A deferred: a promise and the hands that settle it. */
export function deferred<T = void>(): {promise: Promise<T>; resolve: (value: T) => void; reject: (error: Error) => void} {
  let resolve!: (value: T) => void
  let reject!: (error: Error) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return {promise, reject, resolve}
}

export class FakeDocker {
  readonly state = new Map<string, FakeContainer>()
  readonly volumeState = new Map<string, Record<string, string>>()
  readonly networkState = new Map<string, Record<string, string>>()
  /** Labels baked into images (a Dockerfile's LABEL); an image not listed here has none. */
  readonly imageState = new Map<string, Record<string, string>>()
  /** Images whose inspect answers 404 (removed under their containers). */
  readonly missingImages = new Set<string>()
  /** Every image whose labels were asked for, in order (reads, so not among `calls`). */
  readonly imageReads: string[] = []
  private created = 0
  private subscribers: Subscriber[] = []
  private nextHostPort = 49_153
  private nextId = 1
  /** The next inspect of each of these containers answers only once its gate opens. */
  readonly inspectGates = new Map<string, Promise<void>>()
  /** A start that fails with this message (a taken port), once. */
  failNextStart: string | null = null
  /** What a one-shot container (labelled io.highway.one-shot) exits with. */
  oneShotExitCode = 0
  /** Subscribing fails this many times before it works (the engine is away). */
  failSubscriptions = 0
  readonly calls: string[] = []

  readonly containers: ContainerClient = {
    create: async (spec: ContainerSpec & {name: string}) => {
      if ([...this.state.values()].some((container) => container.name === spec.name)) {
        throw Object.assign(new Error(`Conflict. The container name "/${spec.name}" is already in use`), {statusCode: 409})
      }
      const id = this.newId()
      const image = String(spec.Image)
      this.state.set(id, {
        bindings: {},
        created: this.nextCreated(),
        id,
        image,
        ip: '',
        // Docker merges the image's labels under the ones given at create.
        labels: {...this.imageState.get(image), ...(spec.Labels ?? {})},
        name: spec.name,
        ports: {},
        running: false,
        exitsWith: spec.Labels?.['io.highway.one-shot'] ? this.oneShotExitCode : undefined,
      })
      this.calls.push(`create ${spec.name}`)
      return id
    },
    inspect: async (id: string) => {
      // Docker's answer describes the container as it was when asked, however late it arrives.
      const container = this.find(id)
      const answer = container ? details(container) : null
      const gate = this.inspectGates.get(id)
      this.inspectGates.delete(id)
      await gate
      return answer
    },
    list: async (labels: string[]) =>
      [...this.state.values()].filter((container) => labels.every((label) => matches(container.labels, label))).map((container) => summary(container)),
    listRunning: async () => [...this.state.values()].filter((container) => container.running).map((container) => summary(container)),
    remove: async (id: string) => {
      const container = this.find(id)
      if (!container) return
      this.state.delete(container.id)
      this.calls.push(`remove ${container.name}`)
      this.emit('destroy', container.id)
    },
    start: async (id: string) => {
      const container = this.find(id)
      if (!container) throw Object.assign(new Error(`No such container: ${id}`), {statusCode: 404})
      if (this.failNextStart) {
        const message = this.failNextStart
        this.failNextStart = null
        throw new Error(message)
      }
      this.calls.push(`start ${container.name}`)
      this.startContainer(container)
      if (container.exitsWith !== undefined) {
        container.exitCode = container.exitsWith
        this.die(container.id)
      }
    },
    stop: async (id: string) => {
      const container = this.find(id)
      if (!container) throw Object.assign(new Error(`No such container: ${id}`), {statusCode: 404})
      this.calls.push(`stop ${container.name}`)
      if (container.running) this.stop(container.id)
    },
    rename: async (id: string, name: string) => {
      const container = this.find(id)
      if (!container) throw Object.assign(new Error(`No such container: ${id}`), {statusCode: 404})
      if ([...this.state.values()].some((other) => other.name === name)) {
        throw Object.assign(new Error(`Conflict. The container name "/${name}" is already in use`), {statusCode: 409})
      }
      this.calls.push(`rename ${container.name} ${name}`)
      container.name = name
    },
  }

  readonly volumes: VolumeClient = {
    create: async (name, labels) => {
      this.volumeState.set(name, {...labels})
      this.calls.push(`create volume ${name}`)
    },
    labels: async (name) => this.volumeState.get(name) ?? null,
    remove: async (name) => {
      if (this.volumeState.delete(name)) this.calls.push(`remove volume ${name}`)
    },
  }

  readonly networks: NetworkClient = {
    create: async (name, labels) => {
      this.networkState.set(name, {...labels})
      this.calls.push(`create network ${name}`)
    },
    labels: async (name) => this.networkState.get(name) ?? null,
    remove: async (name) => {
      if (this.networkState.delete(name)) this.calls.push(`remove network ${name}`)
    },
  }

  readonly images: ImageClient = {
    build: async () => {
      throw new Error('the fake engine builds no images')
    },
    exists: async (reference) => !this.missingImages.has(reference),
    id: async (reference) => (this.missingImages.has(reference) ? null : `sha256:${reference}`),
    list: async (labels) =>
      [...this.imageState]
        .filter(([, imageLabels]) => labels.every((label) => matches(imageLabels, label)))
        .map(([tag, imageLabels]) => ({id: `sha256:${tag}`, labels: {...imageLabels}, tags: [tag]})),
    // Refused while any container uses the image, as the engine refuses it without force.
    removeTag: async (reference) => {
      if (!this.imageState.has(reference)) return true
      if ([...this.state.values()].some((container) => container.image === reference)) return false
      this.imageState.delete(reference)
      return true
    },
    labels: async (image) => {
      this.imageReads.push(image)
      return this.missingImages.has(image) ? null : {...this.imageState.get(image)}
    },
    pull: async () => {
      throw new Error('the fake engine has no registry')
    },
  }

  readonly events: EventClient = {
    containers: async (label, onEvent, onEnd): Promise<EventSubscription> => {
      if (this.failSubscriptions > 0) {
        this.failSubscriptions--
        throw new Error('connect ENOENT /var/run/docker.sock')
      }
      const subscriber: Subscriber = {label, onEnd, onEvent, open: true}
      this.subscribers.push(subscriber)
      return {
        close: () => {
          subscriber.open = false
        },
      }
    },
  }

  /** Creation times one second apart, in creation order. */
  private nextCreated(): string {
    const seconds = this.created++
    return `2026-11-27T09:${String(Math.floor(seconds / 60)).padStart(2, '0')}:${String(seconds % 60).padStart(2, '0')}.1184027Z`
  }

  private newId(): string {
    return (this.nextId++).toString(16).padStart(12, '0').repeat(2).padEnd(64, '0')
  }

  private find(idOrName: string): FakeContainer | undefined {
    return this.state.get(idOrName) ?? [...this.state.values()].find((container) => container.name === idOrName)
  }

  private startContainer(container: FakeContainer): void {
    container.running = true
    container.ip = `172.17.0.${10 + (Number.parseInt(container.id.slice(0, 12), 16) % 200)}`
    for (const port of Object.keys(container.bindings)) container.ports[port] = this.nextHostPort++
    this.emit('start', container.id)
  }

  /** Emits an event to every open subscription whose label the container carries. */
  emit(action: string, id: string, signal?: number): void {
    const container = this.state.get(id)
    for (const subscriber of this.subscribers) {
      if (!subscriber.open) continue
      if (container && !matches(container.labels, subscriber.label)) continue
      subscriber.onEvent(signal === undefined ? {action, id} : {action, id, signal})
    }
  }

  /** The daemon restarted: every open event stream ends. */
  endEventStreams(): void {
    const subscribers = this.subscribers
    this.subscribers = []
    for (const subscriber of subscribers) {
      if (!subscriber.open) continue
      subscriber.open = false
      subscriber.onEnd()
    }
  }

  get openSubscriptions(): number {
    return this.subscribers.filter((subscriber) => subscriber.open).length
  }

  // ---- what a user does to the engine, as the agent sees it -----------------------------------

  /**
   * `highway run -d --name NAME -p PORT`: created, labelled as the service, started. `labels`
   * replaces the labels given at create (a hand-labelled `docker run`); `image` brings its own.
   */
  runService(
    name: string,
    port = '9090/tcp',
    options: {service?: string; health?: FakeContainer['health']; emit?: boolean; image?: string; labels?: Record<string, string>} = {},
  ): FakeContainer {
    const id = this.newId()
    const image = options.image ?? 'app'
    const container: FakeContainer = {
      bindings: {[port]: [{HostIp: BRIDGE_IP, HostPort: ''}]},
      created: this.nextCreated(),
      health: options.health,
      id,
      image,
      ip: '',
      labels: {...this.imageState.get(image), ...(options.labels ?? {'io.highway.ports': port, 'io.highway.service': options.service ?? name})},
      name,
      ports: {},
      running: false,
    }
    this.state.set(id, container)
    if (options.emit === false) {
      container.running = true
      container.ip = '172.17.0.99'
      container.ports[port] = this.nextHostPort++
    } else {
      this.startContainer(container)
    }
    return container
  }

  /** The process exits (or `docker kill`): only a 'die' event, no 'stop'. */
  die(id: string): void {
    const container = this.state.get(id)!
    container.running = false
    container.ports = {}
    this.emit('die', id)
  }

  /** `docker kill --signal`, or the first step of `docker stop`: the process got `signal` and, for now, runs on. */
  signal(id: string, signal: number): void {
    this.emit('kill', id, signal)
  }

  /** `docker stop`: 'kill' (SIGTERM), 'die' then 'stop'. */
  stop(id: string): void {
    this.emit('kill', id, 15)
    this.die(id)
    this.emit('stop', id)
  }

  start(id: string): void {
    this.startContainer(this.state.get(id)!)
  }

  /** Removed without the agent hearing of it (its event stream was down). */
  removeSilently(id: string): void {
    this.state.delete(id)
  }
}
