import {afterEach, describe, expect, it} from 'vitest'
import {Agent, type AgentOptions, type RouteTarget} from '../../../src/agent/agent.js'
import type {ServiceRecord} from '../../../src/core/types.js'
import {agentKey, serviceKey} from '../../../src/registry/schema.js'
import {FakeDocker, deferred} from '../support/fake-docker.js'
import {FakeRegistry} from '../support/fake-registry.js'
import {makeRecord} from '../support/highway-fixtures.js'

const HOST = {bridgeIp: '172.17.0.1', id: 'hosta', name: 'host-a'}

/** What the proxy side was asked to show: the records at each schedule, in order. */
class RecordingRoutes implements RouteTarget {
  readonly seen: ServiceRecord[][] = []
  configHash: string | null = null
  stopped = false

  constructor(private readonly records: () => ServiceRecord[]) {}

  async schedule(): Promise<void> {
    this.seen.push(this.records())
  }

  stop(): void {
    this.stopped = true
  }

  /** name -> state of this moment's records, for one-line assertions. */
  states(): Record<string, string> {
    return Object.fromEntries(
      this.records()
        .map((record) => [`${record.name}@${record.hostId}`, record.state] as const)
        .sort(),
    )
  }
}

/** Lets every queued promise, microtask and immediate run; never waits on the clock. */
async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve))
}

/** Retries `check` across event-loop turns until it holds; fails with its last error. */
async function eventually(check: () => void, rounds = 500): Promise<void> {
  let last: unknown
  for (let i = 0; i < rounds; i++) {
    try {
      check()
      return
    } catch (error) {
      last = error
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
  throw last
}

const agents: Agent[] = []

afterEach(async () => {
  for (const agent of agents.splice(0)) await agent.stop()
})

/** An agent on the fakes, with no timer firing during a test; `proxy` replaces the recording proxy side. */
function makeAgent(docker = new FakeDocker(), registry = new FakeRegistry(), proxy?: AgentOptions['routes'], extra: Partial<AgentOptions> = {}) {
  const logs: string[] = []
  let routes: RecordingRoutes | undefined
  const agent = new Agent({
    docker,
    domain: 'local',
    host: HOST,
    log: (line) => logs.push(line),
    pause: async () => {},
    reconcileEvery: 3_600_000,
    registry,
    reportEvery: 3_600_000,
    routes: proxy ?? ((records) => (routes = new RecordingRoutes(records))),
    ...extra,
  })
  agents.push(agent)
  return {agent, docker, logs, registry, routes: routes!}
}

function stored(registry: FakeRegistry): Record<string, string> {
  return Object.fromEntries([...registry.services()].map(([key, record]) => [key, `${record.state}:${record.ports.map((port) => port.port).join(',')}`]))
}

describe('Agent: Docker -> etcd', () => {
  it('registers the running services it finds at start, with their published ports, and reports itself', async () => {
    const docker = new FakeDocker()
    const api = docker.runService('api', '9090/tcp', {emit: false})
    const {agent, registry, routes} = makeAgent(docker)
    await agent.start()

    const key = serviceKey({containerId: api.id, hostId: 'hosta', name: 'api'})
    expect(stored(registry)).toEqual({[key]: `running:${api.ports['9090/tcp']}`})
    expect(registry.leaseOf(key)).toBe(registry.leases[0])
    expect(routes.states()).toEqual({'api@hosta': 'running'})
    const [report] = await registry.listAgents()
    expect(report).toMatchObject({dockerConnected: true, etcdConnected: true, hostId: 'hosta', routes: 1})
    expect(report.lastReconcileAt).not.toBeNull()
  })

  it('follows start, die and destroy events with the exact record each time', async () => {
    const {agent, docker, registry, routes} = makeAgent()
    await agent.start()

    const web = docker.runService('web', '80/tcp')
    const key = serviceKey({containerId: web.id, hostId: 'hosta', name: 'web'})
    await eventually(() => expect(stored(registry)).toEqual({[key]: `running:${web.ports['80/tcp']}`}))

    docker.die(web.id)
    await eventually(() => expect(stored(registry)).toEqual({[key]: 'stopped:0'}))
    expect(routes.states()).toEqual({'web@hosta': 'stopped'})

    docker.start(web.id)
    await eventually(() => expect(stored(registry)).toEqual({[key]: `running:${web.ports['80/tcp']}`}))

    await docker.containers.remove(web.id)
    await eventually(() => expect(stored(registry)).toEqual({}))
    expect(routes.states()).toEqual({})
  })

  it('marks a dead container stopped at once, before Docker answers its inspect', async () => {
    const {agent, docker, registry, routes} = makeAgent()
    await agent.start()
    const web = docker.runService('web')
    const key = serviceKey({containerId: web.id, hostId: 'hosta', name: 'web'})
    await eventually(() => expect(stored(registry)[key]).toMatch(/^running/))

    const gate = deferred()
    docker.inspectGates.set(web.id, gate.promise)
    docker.die(web.id)
    // The inspect is still held: only the die handler can have written this.
    await eventually(() => expect(stored(registry)).toEqual({[key]: 'stopped:0'}))
    expect(routes.states()).toEqual({'web@hosta': 'stopped'})

    gate.resolve()
    await settle()
    expect(stored(registry)).toEqual({[key]: 'stopped:0'})
  })

  it('takes a container out when it is sent its stop signal, before it dies, and keeps it out while it drains', async () => {
    const {agent, docker, registry, routes} = makeAgent()
    await agent.start()
    const web = docker.runService('web')
    const key = serviceKey({containerId: web.id, hostId: 'hosta', name: 'web'})
    await eventually(() => expect(stored(registry)[key]).toMatch(/^running/))

    docker.signal(web.id, 15)
    await eventually(() => expect(stored(registry)[key]).toMatch(/^stopped/))
    expect(routes.states()).toEqual({'web@hosta': 'stopped'})
    // Still running, and a health event re-inspects it: it stays out while its requests finish.
    docker.emit('health_status', web.id)
    await settle()
    expect(stored(registry)[key]).toMatch(/^stopped/)

    docker.die(web.id)
    docker.start(web.id)
    await eventually(() => expect(stored(registry)[key]).toMatch(/^running/))
  })

  it('routes a container again that outlived its stop signal by the grace, and ignores signals that do not stop', async () => {
    const {agent, docker, registry} = makeAgent(undefined, undefined, undefined, {stoppingGraceMs: 30})
    await agent.start()
    const web = docker.runService('web')
    const key = serviceKey({containerId: web.id, hostId: 'hosta', name: 'web'})
    await eventually(() => expect(stored(registry)[key]).toMatch(/^running/))
    docker.signal(web.id, 1)
    await settle()
    expect(stored(registry)[key]).toMatch(/^running/)

    docker.signal(web.id, 3)
    await eventually(() => expect(stored(registry)[key]).toMatch(/^stopped/))
    await new Promise((resolve) => setTimeout(resolve, 60))
    await eventually(() => expect(stored(registry)[key]).toMatch(/^running/))
  })

  it('applies one container’s events in order, even when the first inspect answers late', async () => {
    const {agent, docker, registry} = makeAgent()
    await agent.start()
    const gate = deferred()
    const web = docker.runService('web', '80/tcp', {emit: false})
    const key = serviceKey({containerId: web.id, hostId: 'hosta', name: 'web'})
    // The inspect for its start says "running" but answers only after the container has died and
    // the die's own inspect ("stopped") could have answered: the late one must not win.
    docker.inspectGates.set(web.id, gate.promise)
    docker.emit('start', web.id)
    await settle()
    docker.die(web.id)
    await settle()
    gate.resolve()
    await eventually(() => expect(stored(registry)).toEqual({[key]: 'stopped:0'}))
    await settle()
    expect(stored(registry)).toEqual({[key]: 'stopped:0'})
  })

  it('ignores events it does not act on (kill, create) and containers that are gone by the time of the inspect', async () => {
    const {agent, docker, registry} = makeAgent()
    await agent.start()
    const web = docker.runService('web', '80/tcp', {emit: false})
    docker.emit('kill', web.id)
    docker.emit('create', web.id)
    await settle()
    expect(stored(registry)).toEqual({})

    docker.removeSilently(web.id)
    docker.emit('start', web.id)
    await settle()
    expect(stored(registry)).toEqual({})
  })

  it('registers an unhealthy container as unhealthy, with its ports kept for when it recovers', async () => {
    const docker = new FakeDocker()
    const sick = docker.runService('sick', '80/tcp', {emit: false, health: 'unhealthy'})
    const {agent, registry} = makeAgent(docker)
    await agent.start()
    expect(stored(registry)).toEqual({[serviceKey({containerId: sick.id, hostId: 'hosta', name: 'sick'})]: `unhealthy:${sick.ports['80/tcp']}`})
  })
})

describe('Agent: only labels set at creation count', () => {
  const BAKED = {'io.highway.ports': '9090/tcp', 'io.highway.service': 'api'}

  it('never registers a container whose service label comes from its image, at start or on its events', async () => {
    const docker = new FakeDocker()
    docker.imageState.set('sneaky', BAKED)
    // `docker run sneaky` with no label of its own: Docker shows the image's labels on the container.
    const early = docker.runService('early', '9090/tcp', {emit: false, image: 'sneaky', labels: {}})
    expect(early.labels['io.highway.service']).toBe('api')
    const {agent, registry} = makeAgent(docker)
    await agent.start()

    const late = docker.runService('late', '9090/tcp', {image: 'sneaky', labels: {}})
    docker.die(late.id)
    docker.start(late.id)
    await settle()
    await agent.reconcile('test')
    expect(stored(registry)).toEqual({})
  })

  it('registers the same image once the label is given at create, and asks for the image’s labels once', async () => {
    const docker = new FakeDocker()
    docker.imageState.set('sneaky', BAKED)
    const {agent, registry} = makeAgent(docker)
    await agent.start()
    const shop = docker.runService('shop', '9090/tcp', {image: 'sneaky', labels: {'io.highway.service': 'shop'}})
    const key = serviceKey({containerId: shop.id, hostId: 'hosta', name: 'shop'})
    await eventually(() => expect(stored(registry)).toEqual({[key]: `running:${shop.ports['9090/tcp']}`}))
    docker.die(shop.id)
    docker.start(shop.id)
    await eventually(() => expect(stored(registry)).toEqual({[key]: `running:${shop.ports['9090/tcp']}`}))
    await agent.reconcile('test')
    expect(docker.imageReads).toEqual(['sneaky'])
  })

  it('registers nothing of a container whose image cannot be read, and tries again later', async () => {
    const docker = new FakeDocker()
    docker.missingImages.add('app')
    const api = docker.runService('api', '9090/tcp', {emit: false})
    const {agent, registry} = makeAgent(docker)
    await agent.start()
    expect(stored(registry)).toEqual({})

    docker.missingImages.delete('app')
    await agent.reconcile('test')
    expect(stored(registry)).toEqual({[serviceKey({containerId: api.id, hostId: 'hosta', name: 'api'})]: `running:${api.ports['9090/tcp']}`})
  })

  it('records a replica as one, with the creation time Docker gave', async () => {
    const docker = new FakeDocker()
    docker.runService('api', '9090/tcp', {emit: false})
    const replica = docker.runService('api-2', '9090/tcp', {
      emit: false,
      labels: {'io.highway.ports': '9090/tcp', 'io.highway.replica-of': 'api', 'io.highway.service': 'api'},
    })
    const {agent, registry} = makeAgent(docker)
    await agent.start()
    const record = registry.services().get(serviceKey({containerId: replica.id, hostId: 'hosta', name: 'api'}))
    expect(record).toMatchObject({containerName: 'api-2', createdAt: '2026-11-27T09:00:01.118402700Z', replica: true})
  })
})

describe('Agent: reconcile', () => {
  it('inspects again only a container whose listing changed or that sent an event, and still sees what changed silently', async () => {
    const docker = new FakeDocker()
    const api = docker.runService('api', '9090/tcp', {emit: false})
    const web = docker.runService('web', '9090/tcp', {emit: false})
    const {agent, registry} = makeAgent(docker)
    await agent.start()
    const inspected: string[] = []
    const inspect = docker.containers.inspect
    docker.containers.inspect = async (id) => {
      inspected.push(id)
      return inspect(id)
    }

    await agent.reconcile('periodic')
    expect(inspected).toEqual([])

    // Published on another port with no event: the listing shows it.
    web.ports['9090/tcp'] = 40_123
    await agent.reconcile('periodic')
    expect(inspected).toEqual([web.id])
    expect(stored(registry)).toEqual({
      [serviceKey({containerId: api.id, hostId: 'hosta', name: 'api'})]: `running:${api.ports['9090/tcp']}`,
      [serviceKey({containerId: web.id, hostId: 'hosta', name: 'web'})]: 'running:40123',
    })

    // An event, even one that changes nothing the listing shows, means the next reconcile looks again.
    inspected.length = 0
    docker.emit('update', api.id)
    await settle()
    await agent.reconcile('periodic')
    // Once for the event itself, once for the reconcile.
    expect(inspected).toEqual([api.id, api.id])
  })

  it('deletes this host’s records that have no container behind them, and never another host’s', async () => {
    const registry = new FakeRegistry()
    const orphan = makeRecord({containerId: 'f'.repeat(64), hostId: 'hosta', name: 'gone'})
    const remote = makeRecord({containerId: 'e'.repeat(64), hostId: 'hostb', hostName: 'host-b', name: 'remote'})
    await registry.putRaw(serviceKey(orphan), JSON.stringify(orphan))
    await registry.putRaw(serviceKey(remote), JSON.stringify(remote))
    const {agent, routes} = makeAgent(new FakeDocker(), registry)
    await agent.start()

    expect([...registry.services().keys()]).toEqual([serviceKey(remote)])
    expect(routes.states()).toEqual({'remote@hostb': 'running'})
  })

  it('takes over the records a previous agent left, under its own lease', async () => {
    const docker = new FakeDocker()
    const registry = new FakeRegistry()
    const first = makeAgent(docker, registry)
    const api = docker.runService('api', '9090/tcp', {emit: false})
    await first.agent.start()
    const key = serviceKey({containerId: api.id, hostId: 'hosta', name: 'api'})
    const oldLease = registry.leaseOf(key)
    await first.agent.stop()

    const second = makeAgent(docker, registry)
    await second.agent.start()
    expect(registry.leaseOf(key)).not.toBe(oldLease)
    expect(registry.leaseOf(key)).toBe(registry.leases.at(-1))
    // The old agent's lease expiring now takes nothing with it.
    oldLease!.lose()
    await settle()
    expect(stored(registry)).toEqual({[key]: `running:${api.ports['9090/tcp']}`})
  })

  it('reconciles after the Docker event stream comes back, catching what happened meanwhile', async () => {
    const {agent, docker, registry, logs} = makeAgent()
    await agent.start()
    const web = docker.runService('web')
    await eventually(() => expect(Object.keys(stored(registry))).toHaveLength(1))

    docker.failSubscriptions = 2
    docker.endEventStreams()
    docker.removeSilently(web.id)
    await eventually(() => expect(stored(registry)).toEqual({}))
    expect(docker.openSubscriptions).toBe(1)
    expect(logs.some((line) => line.includes('docker event stream ended'))).toBe(true)
    expect(logs.filter((line) => line.includes('docker events unavailable'))).toHaveLength(2)

    // And events flow again on the new stream.
    const api = docker.runService('api')
    await eventually(() =>
      expect(stored(registry)).toEqual({[serviceKey({containerId: api.id, hostId: 'hosta', name: 'api'})]: `running:${api.ports['9090/tcp']}`}),
    )
  })
})

describe('Agent: etcd -> proxy', () => {
  it('shows other hosts’ records to the proxy as they arrive through the watch', async () => {
    const {agent, registry, routes} = makeAgent()
    await agent.start()
    const remote = makeRecord({containerId: 'e'.repeat(64), hostId: 'hostb', hostName: 'host-b', name: 'remote'})
    await registry.putRaw(serviceKey(remote), JSON.stringify(remote))
    await eventually(() => expect(routes.states()).toEqual({'remote@hostb': 'running'}))
    await registry.delete(serviceKey(remote))
    await eventually(() => expect(routes.states()).toEqual({}))
  })

  it('never lets the watch’s late echo of its own older write flip a route back', async () => {
    const {agent, docker, registry, routes} = makeAgent()
    await agent.start()
    registry.holdWatch = true
    const web = docker.runService('web')
    await eventually(() => expect(routes.states()).toEqual({'web@hosta': 'running'}))
    docker.die(web.id)
    await eventually(() => expect(routes.states()).toEqual({'web@hosta': 'stopped'}))

    // Now the echoes arrive: first the put that said "running", then the one that said "stopped".
    const before = routes.seen.length
    registry.releaseWatch()
    await settle()
    expect(routes.states()).toEqual({'web@hosta': 'stopped'})
    expect(routes.seen.slice(before).every((records) => records.every((record) => record.state === 'stopped'))).toBe(true)
  })

  it('lists again and watches from the new revision when etcd cancels the watch', async () => {
    const {agent, registry, routes, logs} = makeAgent()
    await agent.start()
    registry.failLists = 1
    registry.cancelWatches()
    // Written while the agent has no watch: only the new list can show it.
    const remote = makeRecord({containerId: 'e'.repeat(64), hostId: 'hostb', hostName: 'host-b', name: 'remote'})
    await registry.putRaw(serviceKey(remote), JSON.stringify(remote))
    await eventually(() => expect(routes.states()).toEqual({'remote@hostb': 'running'}))
    expect(registry.activeWatches).toBe(1)
    expect(logs.some((line) => line.includes('etcd watch broken'))).toBe(true)
    expect(logs.some((line) => line.includes('etcd list/watch failed'))).toBe(true)

    // The new watch delivers later changes exactly once.
    const seen = routes.seen.length
    await registry.delete(serviceKey(remote))
    await eventually(() => expect(routes.states()).toEqual({}))
    expect(routes.seen.length).toBe(seen + 1)
  })
})

describe('Agent: the lease', () => {
  it('puts every record and its report again under a new lease when the old one is lost', async () => {
    const docker = new FakeDocker()
    const api = docker.runService('api', '9090/tcp', {emit: false})
    const web = docker.runService('web', '80/tcp', {emit: false})
    const registry = new FakeRegistry()
    const {agent, logs, routes} = makeAgent(docker, registry)
    await agent.start()
    const keys = [api, web].map((container) => serviceKey({containerId: container.id, hostId: 'hosta', name: container.name}))
    const [first] = registry.leases

    registry.failGrants = 2
    first.lose()
    await eventually(() => expect(Object.keys(stored(registry)).sort()).toEqual([...keys].sort()))
    const second = registry.leases.at(-1)!
    expect(second).not.toBe(first)
    for (const key of keys) expect(registry.leaseOf(key)).toBe(second)
    expect(registry.leaseOf(agentKey('hosta'))).toBe(second)
    expect(logs.some((line) => line.includes('etcd lease lost'))).toBe(true)
    expect(logs.filter((line) => line.includes('etcd lease: etcd unavailable'))).toHaveLength(2)
    expect(routes.states()).toEqual({'api@hosta': 'running', 'web@hosta': 'running'})
  })
})

describe('Agent: stop', () => {
  it('cancels its watch, closes its event stream and stops the proxy side, leaving the records for its successor', async () => {
    const docker = new FakeDocker()
    docker.runService('api', '9090/tcp', {emit: false})
    const {agent, registry, routes} = makeAgent(docker)
    await agent.start()
    await agent.stop()
    expect(registry.activeWatches).toBe(0)
    expect(docker.openSubscriptions).toBe(0)
    expect(routes.stopped).toBe(true)
    expect(registry.services().size).toBe(1)
  })
})

describe('Agent: invalid records', () => {
  const remote = makeRecord({containerId: 'e'.repeat(64), hostId: 'hostb', hostName: 'host-b', name: 'remote'})
  const badKey = (name: string, letter: string) => serviceKey({containerId: letter.repeat(64), hostId: 'hostb', name})
  const {ports: _ports, ...withoutPorts} = makeRecord({containerId: 'a'.repeat(64), hostId: 'hostb', name: 'noports'})
  const bad: Record<string, string> = {
    [badKey('noports', 'a')]: JSON.stringify(withoutPorts),
    [badKey('loop', 'b')]: JSON.stringify(
      makeRecord({containerId: 'b'.repeat(64), hostId: 'hostb', name: 'loop', ports: [{address: '127.0.0.1', containerPort: '80/tcp', port: 8080}]}),
    ),
    [badKey('garbage', 'c')]: '{"schema": 1, "name": "garb',
    [badKey('liar', 'd')]: JSON.stringify(makeRecord({containerId: 'd'.repeat(64), hostId: 'hostb', name: 'remote'})),
  }
  const skipped = (logs: string[]) => logs.filter((line) => line.startsWith('skipping invalid record'))

  async function withBadRecords() {
    const registry = new FakeRegistry({bridgeIp: HOST.bridgeIp})
    await registry.putRaw(serviceKey(remote), JSON.stringify(remote))
    for (const [key, value] of Object.entries(bad)) await registry.putRaw(key, value)
    return registry
  }

  it('skips every bad record with one log line naming its key and why, and routes the rest', async () => {
    const docker = new FakeDocker()
    docker.runService('api', '9090/tcp', {emit: false})
    const {agent, logs, routes} = makeAgent(docker, await withBadRecords())
    await agent.start()

    expect(routes.states()).toEqual({'api@hosta': 'running', 'remote@hostb': 'running'})
    expect(skipped(logs).sort()).toEqual([
      `skipping invalid record "${badKey('garbage', 'c')}" (revision 5): not JSON ("{\\"schema\\": 1, \\"name\\": \\"garb")`,
      `skipping invalid record "${badKey('liar', 'd')}" (revision 6): name "remote" does not match the key ("liar")`,
      `skipping invalid record "${badKey('loop', 'b')}" (revision 4): ports[0].address: 127.0.0.1 is a loopback address`,
      `skipping invalid record "${badKey('noports', 'a')}" (revision 3): ports is missing`,
    ])
  })

  it('logs a bad value once, however often the proxy re-renders or etcd is listed again, and a new bad value once more', async () => {
    const {agent, docker, logs, registry, routes} = makeAgent(new FakeDocker(), await withBadRecords())
    await agent.start()
    expect(skipped(logs)).toHaveLength(4)

    // Re-renders: new containers come and go.
    const web = docker.runService('web')
    await eventually(() => expect(routes.states()).toMatchObject({'web@hosta': 'running'}))
    docker.die(web.id)
    await eventually(() => expect(routes.states()).toMatchObject({'web@hosta': 'stopped'}))
    // A re-list: etcd cancels the watch.
    registry.cancelWatches()
    await eventually(() => expect(registry.activeWatches).toBe(1))
    await agent.reconcile('test')
    await settle()
    expect(routes.seen.length).toBeGreaterThan(3)
    expect(skipped(logs)).toHaveLength(4)

    // Another bad value under a key already logged is a new line; so is a bad key arriving through the watch.
    await registry.putRaw(badKey('loop', 'b'), '[]')
    await registry.putRaw('/highway/v2/hosts/hostb/services/not-a-key', '{}')
    await eventually(() => expect(skipped(logs)).toHaveLength(6))
    const [again, unkeyed] = skipped(logs).slice(4)
    expect(again).toMatch(/^skipping invalid record "\/highway\/v2\/hosts\/hostb\/services\/loop\/b{64}" \(revision \d+\): not a JSON object \(\[\]\)$/)
    expect(unkeyed).toMatch(/^skipping invalid record "\/highway\/v2\/hosts\/hostb\/services\/not-a-key" \(revision \d+\): the key is not /)
    expect(routes.states()).toEqual({'remote@hostb': 'running', 'web@hosta': 'stopped'})
  })

  it('drops the route of a record that turns bad, and routes it again once a good value replaces it', async () => {
    const registry = new FakeRegistry({bridgeIp: HOST.bridgeIp})
    await registry.putRaw(serviceKey(remote), JSON.stringify(remote))
    const {agent, logs, routes} = makeAgent(new FakeDocker(), registry)
    await agent.start()
    expect(routes.states()).toEqual({'remote@hostb': 'running'})

    const {ports: _gone, ...broken} = remote
    await registry.putRaw(serviceKey(remote), JSON.stringify(broken))
    await eventually(() => expect(routes.states()).toEqual({}))
    expect(skipped(logs)).toEqual([expect.stringContaining('ports is missing')])

    await registry.putRaw(serviceKey(remote), JSON.stringify(remote))
    await eventually(() => expect(routes.states()).toEqual({'remote@hostb': 'running'}))
    expect(skipped(logs)).toHaveLength(1)
  })

  it('never writes a record of its own that every reader would skip, says so once, and registers the other containers', async () => {
    const docker = new FakeDocker()
    // A hand-made label: "http" is not a port, so the record would be invalid everywhere.
    const odd = docker.runService('odd', 'http', {emit: false})
    const api = docker.runService('api', '9090/tcp', {emit: false})
    const {agent, logs, registry, routes} = makeAgent(docker)
    await agent.start()
    await agent.reconcile('again')
    docker.emit('restart', odd.id)
    await settle()

    expect(stored(registry)).toEqual({[serviceKey({containerId: api.id, hostId: 'hosta', name: 'api'})]: `running:${api.ports['9090/tcp']}`})
    expect(routes.states()).toEqual({'api@hosta': 'running'})
    expect(logs.filter((line) => line.startsWith('not registering'))).toEqual([
      'not registering "odd" as odd: ports[0].containerPort "http/tcp" is not <port>/<tcp|udp|sctp>',
    ])
  })
})

describe('Agent: failures never go unhandled', () => {
  it('logs a proxy side that fails on every render and keeps following Docker and etcd', async () => {
    let renders = 0
    const {agent, docker, logs, registry} = makeAgent(new FakeDocker(), new FakeRegistry(), () => ({
      configHash: null,
      schedule: async () => {
        renders++
        throw new Error('disk full')
      },
      stop: () => {},
    }))
    await agent.start()
    const web = docker.runService('web')
    await eventually(() => expect(Object.keys(stored(registry))).toEqual([serviceKey({containerId: web.id, hostId: 'hosta', name: 'web'})]))
    const remote = makeRecord({containerId: 'e'.repeat(64), hostId: 'hostb', hostName: 'host-b', name: 'remote'})
    await registry.putRaw(serviceKey(remote), JSON.stringify(remote))
    registry.cancelWatches()
    await eventually(() => expect(registry.activeWatches).toBe(1))
    await settle()
    // Each failure was logged where it happened; an unhandled one would fail this test (vitest reports it).
    expect(renders).toBeGreaterThan(3)
    expect(logs.filter((line) => line.includes('proxy update failed: disk full')).length).toBe(renders)
  })
})

describe('Agent: a restart', () => {
  it('converges: a new agent started after the old one died shows the proxy exactly what is there now', async () => {
    const docker = new FakeDocker()
    const registry = new FakeRegistry({bridgeIp: HOST.bridgeIp})
    const api = docker.runService('api', '9090/tcp', {emit: false})
    const web = docker.runService('web', '80/tcp', {emit: false})
    const gone = makeRecord({containerId: 'e'.repeat(64), hostId: 'hostb', hostName: 'host-b', name: 'gone'})
    await registry.putRaw(serviceKey(gone), JSON.stringify(gone))
    const first = makeAgent(docker, registry)
    await first.agent.start()
    expect(first.routes.states()).toEqual({'api@hosta': 'running', 'gone@hostb': 'running', 'web@hosta': 'running'})
    // The agent dies: no more watch, no more events; its records stay under its lease.
    await first.agent.stop()
    const lastShown = first.routes.seen.length

    // Meanwhile: web dies, db starts, another host's record goes and one arrives, and a bad record is written.
    docker.die(web.id)
    const db = docker.runService('db', '5432/tcp')
    await registry.delete(serviceKey(gone))
    const remote = makeRecord({containerId: 'f'.repeat(64), hostId: 'hostb', hostName: 'host-b', name: 'remote'})
    await registry.putRaw(serviceKey(remote), JSON.stringify(remote))
    await registry.putRaw(serviceKey({containerId: 'c'.repeat(64), hostId: 'hostb', name: 'bad'}), 'not json')
    await settle()
    expect(first.routes.seen.length).toBe(lastShown)

    const second = makeAgent(docker, registry)
    await second.agent.start()
    expect(second.routes.states()).toEqual({'api@hosta': 'running', 'db@hosta': 'running', 'remote@hostb': 'running', 'web@hosta': 'stopped'})
    expect(stored(registry)).toEqual({
      [serviceKey({containerId: api.id, hostId: 'hosta', name: 'api'})]: `running:${api.ports['9090/tcp']}`,
      [serviceKey({containerId: db.id, hostId: 'hosta', name: 'db'})]: `running:${db.ports['5432/tcp']}`,
      [serviceKey(remote)]: `running:${remote.ports[0].port}`,
      [serviceKey({containerId: web.id, hostId: 'hosta', name: 'web'})]: 'stopped:0',
    })
    expect(second.logs.filter((line) => line.startsWith('skipping invalid record'))).toHaveLength(1)
    // And it follows what happens next.
    docker.die(api.id)
    await eventually(() => expect(second.routes.states()).toMatchObject({'api@hosta': 'stopped'}))
  })
})
