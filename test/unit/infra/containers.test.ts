import {describe, expect, it} from 'vitest'
import type {Settings} from '../../../src/core/types.js'
import type {DockerClient} from '../../../src/docker/types.js'
import {componentSpecs, type ComponentSpec} from '../../../src/infra/components.js'
import {RunChanges, ensureContainer, ensureNetwork, ensureVolume, listManaged, runOnce} from '../../../src/infra/containers.js'
import {runDown} from '../../../src/infra/down.js'
import {FakeDocker} from '../support/fake-docker.js'
import {rejectedUserError} from '../support/user-error.js'

/**
 * `up`'s container logic on the in-memory engine: which outcome each state of a component leads
 * to, what a failure leaves behind, and what `down` removes. The e2e suite runs the same paths on
 * the real engine (idempotence, repair, Ctrl-C, a taken port); these pin the decisions exactly.
 */
const SETTINGS: Settings = {baseImage: 'debian:trixie-slim', bridgeIp: '172.17.0.1', domain: 'local', etcdEndpoints: [], upstreamDns: []}

function specFor(component: string, image = 'highway/infra:1'): ComponentSpec {
  const tls = {ca: 'ca', cert: 'cert', key: 'key'}
  return componentSpecs({dockerSocket: '/var/run/docker.sock', image, settings: SETTINGS, tls: {agent: tls, etcd: tls}}).find(
    (spec) => spec.component === component,
  )!
}

function engine(): FakeDocker & DockerClient {
  return new FakeDocker() as FakeDocker & DockerClient
}

describe('ensureContainer', () => {
  it('creates a missing component and records it for the rollback', async () => {
    const docker = engine()
    const created = new RunChanges()
    expect(await ensureContainer(docker, specFor('proxy'), created)).toBe('created')
    const [proxy] = await listManaged(docker, 'proxy')
    expect(proxy).toMatchObject({Names: ['/highway-proxy'], State: 'running'})
    expect(created.containers).toEqual([proxy.Id])
  })

  it('changes nothing when the component runs its spec', async () => {
    const docker = engine()
    await ensureContainer(docker, specFor('dns'), new RunChanges())
    docker.calls.length = 0
    const created = new RunChanges()
    expect(await ensureContainer(docker, specFor('dns'), created)).toBe('unchanged')
    expect(docker.calls).toEqual([])
    expect(created.containers).toEqual([])
  })

  it('starts a stopped component without recreating it', async () => {
    const docker = engine()
    await ensureContainer(docker, specFor('dns'), new RunChanges())
    const [dns] = await listManaged(docker, 'dns')
    docker.die(dns.Id)
    docker.calls.length = 0
    expect(await ensureContainer(docker, specFor('dns'), new RunChanges())).toBe('started')
    expect(docker.calls).toEqual(['start highway-dns'])
  })

  it('replaces a changed component beside the stopped old one, and swaps names only on commit', async () => {
    const docker = engine()
    await ensureContainer(docker, specFor('dns', 'highway/infra:1'), new RunChanges())
    const [old] = await listManaged(docker, 'dns')
    docker.calls.length = 0
    const changes = new RunChanges()
    expect(await ensureContainer(docker, specFor('dns', 'highway/infra:2'), changes)).toBe('recreated')
    expect(docker.calls).toEqual(['stop highway-dns', 'create highway-dns-next', 'start highway-dns-next'])
    // Until the commit the old container is kept, stopped, under its own name.
    expect(docker.state.get(old.Id)).toMatchObject({name: 'highway-dns', running: false})
    docker.calls.length = 0
    await changes.commit(docker)
    expect(docker.calls).toEqual(['remove highway-dns', 'rename highway-dns-next highway-dns'])
    expect((await listManaged(docker, 'dns')).map((container) => [container.Names[0], container.Image, container.State])).toEqual([
      ['/highway-dns', 'highway/infra:2', 'running'],
    ])
  })

  it('puts the old component back when the run fails after replacing it', async () => {
    const docker = engine()
    await ensureContainer(docker, specFor('dns', 'highway/infra:1'), new RunChanges())
    const [old] = await listManaged(docker, 'dns')
    const changes = new RunChanges()
    await ensureContainer(docker, specFor('dns', 'highway/infra:2'), changes)
    docker.calls.length = 0
    await changes.rollback(docker)
    expect(docker.calls).toEqual(['remove highway-dns-next', 'start highway-dns'])
    expect((await listManaged(docker, 'dns')).map((container) => [container.Id, container.Names[0], container.State])).toEqual([
      [old.Id, '/highway-dns', 'running'],
    ])
  })

  it('leaves a component the user had stopped stopped when it puts it back', async () => {
    const docker = engine()
    await ensureContainer(docker, specFor('dns', 'highway/infra:1'), new RunChanges())
    const [old] = await listManaged(docker, 'dns')
    docker.die(old.Id)
    const changes = new RunChanges()
    await ensureContainer(docker, specFor('dns', 'highway/infra:2'), changes)
    await changes.rollback(docker)
    expect(docker.state.get(old.Id)).toMatchObject({name: 'highway-dns', running: false})
  })

  it('restores the old component when its replacement cannot even start (a taken port)', async () => {
    const docker = engine()
    await ensureContainer(docker, specFor('proxy', 'highway/infra:1'), new RunChanges())
    const [old] = await listManaged(docker, 'proxy')
    docker.failNextStart = 'Error starting userland proxy: listen tcp4 172.17.0.1:80: bind: address already in use'
    const changes = new RunChanges()
    await rejectedUserError(() => ensureContainer(docker, specFor('proxy', 'highway/infra:2'), changes))
    await changes.rollback(docker)
    expect((await listManaged(docker, 'proxy')).map((container) => [container.Id, container.State])).toEqual([[old.Id, 'running']])
  })

  it('says an address that is not this host’s is not, rather than calling the port taken', async () => {
    const docker = engine()
    docker.failNextStart = 'Error starting userland proxy: listen tcp4 172.17.0.1:80: bind: cannot assign requested address'
    const error = await rejectedUserError(() => ensureContainer(docker, specFor('proxy'), new RunChanges()))
    expect(error.message).toBe('172.17.0.1 is not an address of this host, so the proxy cannot listen on it')
  })

  it('removes a replacement left behind by a run that died midway, and replaces again', async () => {
    const docker = engine()
    await ensureContainer(docker, specFor('dns', 'highway/infra:1'), new RunChanges())
    await ensureContainer(docker, specFor('dns', 'highway/infra:2'), new RunChanges())
    // No commit and no rollback: the process was killed.
    docker.calls.length = 0
    const changes = new RunChanges()
    expect(await ensureContainer(docker, specFor('dns', 'highway/infra:2'), changes)).toBe('recreated')
    expect(docker.calls).toEqual(['remove highway-dns-next', 'stop highway-dns', 'create highway-dns-next', 'start highway-dns-next'])
    await changes.commit(docker)
    expect((await listManaged(docker, 'dns')).map((container) => [container.Names[0], container.Image])).toEqual([['/highway-dns', 'highway/infra:2']])
  })

  it('runs the one-shot volume helper before the component when asked, and removes it', async () => {
    const docker = engine()
    const spec = specFor('etcd')
    expect(await ensureContainer(docker, spec, new RunChanges(), {prepare: true})).toBe('created')
    expect(docker.calls).toEqual([
      'create highway-etcd-prepare',
      'start highway-etcd-prepare',
      'remove highway-etcd-prepare',
      'create highway-etcd',
      'start highway-etcd',
    ])
    docker.calls.length = 0
    await ensureContainer(docker, specFor('dns'), new RunChanges(), {prepare: true})
    expect(docker.calls).toEqual(['create highway-dns', 'start highway-dns'])
  })

  it('fails, and creates no component, when the volume helper fails', async () => {
    const docker = engine()
    docker.oneShotExitCode = 1
    const changes = new RunChanges()
    await expect(ensureContainer(docker, specFor('proxy'), changes, {prepare: true})).rejects.toThrow(/highway-proxy-prepare .*exited with code 1/)
    expect(await listManaged(docker)).toEqual([])
    expect(changes.containers).toEqual([])
  })

  it('refuses to touch a container of the same name that is not highway’s', async () => {
    const docker = engine()
    await docker.containers.create({Image: 'nginx', Labels: {}, name: 'highway-proxy'})
    docker.calls.length = 0
    const error = await rejectedUserError(() => ensureContainer(docker, specFor('proxy'), new RunChanges()))
    expect(error.message).toBe("a container named highway-proxy exists and is not highway's")
    expect(error.suggestion).toContain('docker rm -f highway-proxy')
    expect(docker.calls).toEqual([])
  })

  it('creates the registry network for the components that join it, and refuses one that is not highway’s', async () => {
    const docker = engine()
    const created = new RunChanges()
    await ensureNetwork(docker, 'highway-registry', created)
    await ensureNetwork(docker, 'highway-registry', created)
    expect(created.networks).toEqual(['highway-registry'])
    expect(docker.networkState.get('highway-registry')).toEqual({'io.highway.managed': 'true'})
    expect(await runDown(docker, {purge: false})).toEqual({containers: [], images: [], networks: ['highway-registry'], volumes: []})

    await docker.networks.create('highway-registry', {})
    const error = await rejectedUserError(() => ensureNetwork(docker, 'highway-registry', new RunChanges()))
    expect(error.message).toBe("a Docker network named highway-registry exists and is not highway's")
    expect(await runDown(docker, {purge: false})).toEqual({containers: [], images: [], networks: [], volumes: []})
  })

  it('names the container that holds a taken port, and keeps what it created for the rollback', async () => {
    const docker = engine()
    const holder = docker.runService('squatter', '80/tcp')
    docker.state.get(holder.id)!.ports = {'80/tcp': 80}
    docker.failNextStart = 'driver failed programming external connectivity: Bind for 172.17.0.1:80 failed: port is already allocated'
    const created = new RunChanges()
    const error = await rejectedUserError(() => ensureContainer(docker, specFor('proxy'), created))
    expect(error.message).toBe('port 80/tcp on 172.17.0.1 is taken by container squatter (app), so the proxy cannot start')
    expect(created.containers).toHaveLength(1)

    await created.rollback(docker)
    expect(await listManaged(docker)).toEqual([])
    expect(docker.state.has(holder.id)).toBe(true)
  })
})

describe('only containers highway created are highway’s', () => {
  /** What a user gets from `docker build` of a Dockerfile with `LABEL io.highway.managed=true io.highway.component=proxy`. */
  const IMPOSTOR = {'io.highway.component': 'proxy', 'io.highway.managed': 'true'}

  function withImages(): FakeDocker & DockerClient {
    const docker = engine()
    // highway's own image carries io.highway.managed too (ensureInfraImage builds it so).
    docker.imageState.set('highway/infra:1', {'io.highway.managed': 'true'})
    docker.imageState.set('impostor', IMPOSTOR)
    return docker
  }

  it('leaves a user’s container of an image with highway’s labels to `up`, and still counts its own', async () => {
    const docker = withImages()
    const user = await docker.containers.create({Image: 'impostor', Labels: {}, name: 'my-proxy'})
    expect(docker.state.get(user)!.labels).toMatchObject(IMPOSTOR)
    expect(await listManaged(docker, 'proxy')).toEqual([])

    expect(await ensureContainer(docker, specFor('proxy'), new RunChanges())).toBe('created')
    expect((await listManaged(docker, 'proxy')).map((container) => container.Names[0])).toEqual(['/highway-proxy'])
    expect(await ensureContainer(docker, specFor('proxy'), new RunChanges())).toBe('unchanged')
    expect(docker.state.has(user)).toBe(true)
  })

  it('refuses, rather than replaces, such a container when it bears the component’s name', async () => {
    const docker = withImages()
    await docker.containers.create({Image: 'impostor', Labels: {}, name: 'highway-proxy'})
    docker.calls.length = 0
    const error = await rejectedUserError(() => ensureContainer(docker, specFor('proxy'), new RunChanges()))
    expect(error.message).toBe("a container named highway-proxy exists and is not highway's")
    expect(docker.calls).toEqual([])
  })

  it('leaves it to `down`, which removes highway’s own', async () => {
    const docker = withImages()
    const user = await docker.containers.create({Image: 'impostor', Labels: {}, name: 'my-proxy'})
    await ensureContainer(docker, specFor('proxy'), new RunChanges())
    expect(await runDown(docker, {purge: false})).toEqual({containers: ['highway-proxy'], images: [], networks: [], volumes: []})
    expect([...docker.state.keys()]).toEqual([user])
  })

  it('counts a container whose component label was given at create, even over an image that has another', async () => {
    const docker = withImages()
    const user = await docker.containers.create({Image: 'impostor', Labels: {'io.highway.component': 'dns'}, name: 'odd'})
    expect((await listManaged(docker, 'dns')).map((container) => container.Id)).toEqual([user])
  })
})

describe('runOnce', () => {
  it('removes a helper left by an earlier run before creating its own', async () => {
    const docker = engine()
    const spec = specFor('etcd').prepare!
    await docker.containers.create(spec)
    docker.calls.length = 0
    await runOnce(docker, spec)
    expect(docker.calls).toEqual(['remove highway-etcd-prepare', 'create highway-etcd-prepare', 'start highway-etcd-prepare', 'remove highway-etcd-prepare'])
  })
})

describe('RunChanges.rollback', () => {
  it('removes exactly what this run created, containers last-first, then volumes', async () => {
    const docker = engine()
    await docker.volumes.create('highway-etcd-v2', {'io.highway.managed': 'true'})
    const created = new RunChanges()
    await ensureVolume(docker, 'highway-etcd-v2', created)
    await ensureVolume(docker, 'highway-proxy-run', created)
    await ensureContainer(docker, specFor('proxy'), created)
    await ensureContainer(docker, specFor('dns'), created)
    docker.calls.length = 0
    await created.rollback(docker)
    expect(docker.calls).toEqual(['remove highway-dns', 'remove highway-proxy', 'remove volume highway-proxy-run'])
    expect([...docker.volumeState.keys()]).toEqual(['highway-etcd-v2'])
  })
})

describe('runDown', () => {
  it('removes highway’s containers by label and the proxy volume, keeping etcd’s data and other containers', async () => {
    const docker = engine()
    const created = new RunChanges()
    for (const volume of ['highway-etcd-v2', 'highway-proxy-run']) await ensureVolume(docker, volume, created)
    await ensureContainer(docker, specFor('proxy'), created)
    await ensureContainer(docker, specFor('dns'), created)
    const bystander = docker.runService('api')
    docker.imageState.set('highway/infra:1', {'io.highway.managed': 'true'})
    expect(await runDown(docker, {purge: false})).toEqual({
      containers: ['highway-proxy', 'highway-dns'],
      images: [],
      networks: [],
      volumes: ['highway-proxy-run'],
    })
    expect([...docker.state.keys()]).toEqual([bystander.id])
    expect(docker.imageState.has('highway/infra:1')).toBe(true)
    expect(await runDown(docker, {purge: true})).toEqual({containers: [], images: ['highway/infra:1'], networks: [], volumes: ['highway-etcd-v2']})
    expect(docker.imageState.has('highway/infra:1')).toBe(false)
  })

  it('keeps highway’s images with --purge --keep-images', async () => {
    const docker = engine()
    docker.imageState.set('highway/infra:1', {'io.highway.managed': 'true'})
    expect((await runDown(docker, {keepImages: true, purge: true})).images).toEqual([])
    expect(docker.imageState.has('highway/infra:1')).toBe(true)
  })

  it('removes etcd’s volume of an earlier highway with --purge, and only with it', async () => {
    const docker = engine()
    await docker.volumes.create('highway-etcd-data', {'io.highway.managed': 'true'})
    expect((await runDown(docker, {purge: false})).volumes).toEqual([])
    expect(await runDown(docker, {purge: true})).toEqual({containers: [], images: [], networks: [], volumes: ['highway-etcd-data']})
  })

  it('leaves a volume of the same name that highway did not create', async () => {
    const docker = engine()
    await docker.volumes.create('highway-etcd-v2', {})
    expect(await runDown(docker, {purge: true})).toEqual({containers: [], images: [], networks: [], volumes: []})
    expect(docker.volumeState.has('highway-etcd-v2')).toBe(true)
  })
})
