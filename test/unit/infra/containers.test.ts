import {describe, expect, it} from 'vitest'
import type {Settings} from '../../../src/core/types.js'
import type {DockerClient} from '../../../src/docker/types.js'
import {componentSpecs, type ComponentSpec} from '../../../src/infra/components.js'
import {CreatedThisRun, ensureContainer, ensureNetwork, ensureVolume, listManaged} from '../../../src/infra/containers.js'
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
    const created = new CreatedThisRun()
    expect(await ensureContainer(docker, specFor('proxy'), created)).toBe('created')
    const [proxy] = await listManaged(docker, 'proxy')
    expect(proxy).toMatchObject({Names: ['/highway-proxy'], State: 'running'})
    expect(created.containers).toEqual([proxy.Id])
  })

  it('changes nothing when the component runs its spec', async () => {
    const docker = engine()
    await ensureContainer(docker, specFor('dns'), new CreatedThisRun())
    docker.calls.length = 0
    const created = new CreatedThisRun()
    expect(await ensureContainer(docker, specFor('dns'), created)).toBe('unchanged')
    expect(docker.calls).toEqual([])
    expect(created.containers).toEqual([])
  })

  it('starts a stopped component without recreating it', async () => {
    const docker = engine()
    await ensureContainer(docker, specFor('dns'), new CreatedThisRun())
    const [dns] = await listManaged(docker, 'dns')
    docker.die(dns.Id)
    docker.calls.length = 0
    expect(await ensureContainer(docker, specFor('dns'), new CreatedThisRun())).toBe('started')
    expect(docker.calls).toEqual(['start highway-dns'])
  })

  it('replaces a component whose spec changed', async () => {
    const docker = engine()
    await ensureContainer(docker, specFor('dns', 'highway/infra:1'), new CreatedThisRun())
    docker.calls.length = 0
    expect(await ensureContainer(docker, specFor('dns', 'highway/infra:2'), new CreatedThisRun())).toBe('recreated')
    expect(docker.calls).toEqual(['remove highway-dns', 'create highway-dns', 'start highway-dns'])
    expect((await listManaged(docker, 'dns')).map((container) => container.Image)).toEqual(['highway/infra:2'])
  })

  it('refuses to touch a container of the same name that is not highway’s', async () => {
    const docker = engine()
    await docker.containers.create({Image: 'nginx', Labels: {}, name: 'highway-proxy'})
    docker.calls.length = 0
    const error = await rejectedUserError(() => ensureContainer(docker, specFor('proxy'), new CreatedThisRun()))
    expect(error.message).toBe("a container named highway-proxy exists and is not highway's")
    expect(error.suggestion).toContain('docker rm -f highway-proxy')
    expect(docker.calls).toEqual([])
  })

  it('creates the registry network for the components that join it, and refuses one that is not highway’s', async () => {
    const docker = engine()
    const created = new CreatedThisRun()
    await ensureNetwork(docker, 'highway-registry', created)
    await ensureNetwork(docker, 'highway-registry', created)
    expect(created.networks).toEqual(['highway-registry'])
    expect(docker.networkState.get('highway-registry')).toEqual({'io.highway.managed': 'true'})
    expect(await runDown(docker, {purge: false})).toEqual({containers: [], networks: ['highway-registry'], volumes: []})

    await docker.networks.create('highway-registry', {})
    const error = await rejectedUserError(() => ensureNetwork(docker, 'highway-registry', new CreatedThisRun()))
    expect(error.message).toBe("a Docker network named highway-registry exists and is not highway's")
    expect(await runDown(docker, {purge: false})).toEqual({containers: [], networks: [], volumes: []})
  })

  it('names the container that holds a taken port, and keeps what it created for the rollback', async () => {
    const docker = engine()
    const holder = docker.runService('squatter', '80/tcp')
    docker.state.get(holder.id)!.ports = {'80/tcp': 80}
    docker.failNextStart = 'driver failed programming external connectivity: Bind for 172.17.0.1:80 failed: port is already allocated'
    const created = new CreatedThisRun()
    const error = await rejectedUserError(() => ensureContainer(docker, specFor('proxy'), created))
    expect(error.message).toBe('port 80/tcp on 172.17.0.1 is taken by container squatter (app), so the proxy cannot start')
    expect(created.containers).toHaveLength(1)

    await created.rollback(docker)
    expect(await listManaged(docker)).toEqual([])
    expect(docker.state.has(holder.id)).toBe(true)
  })
})

describe('CreatedThisRun.rollback', () => {
  it('removes exactly what this run created, containers last-first, then volumes', async () => {
    const docker = engine()
    await docker.volumes.create('highway-etcd-v2', {'io.highway.managed': 'true'})
    const created = new CreatedThisRun()
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
    const created = new CreatedThisRun()
    for (const volume of ['highway-etcd-v2', 'highway-proxy-run']) await ensureVolume(docker, volume, created)
    await ensureContainer(docker, specFor('proxy'), created)
    await ensureContainer(docker, specFor('dns'), created)
    const bystander = docker.runService('api')
    expect(await runDown(docker, {purge: false})).toEqual({containers: ['highway-proxy', 'highway-dns'], networks: [], volumes: ['highway-proxy-run']})
    expect([...docker.state.keys()]).toEqual([bystander.id])
    expect(await runDown(docker, {purge: true})).toEqual({containers: [], networks: [], volumes: ['highway-etcd-v2']})
  })

  it('removes etcd’s volume of an earlier highway with --purge, and only with it', async () => {
    const docker = engine()
    await docker.volumes.create('highway-etcd-data', {'io.highway.managed': 'true'})
    expect((await runDown(docker, {purge: false})).volumes).toEqual([])
    expect(await runDown(docker, {purge: true})).toEqual({containers: [], networks: [], volumes: ['highway-etcd-data']})
  })

  it('leaves a volume of the same name that highway did not create', async () => {
    const docker = engine()
    await docker.volumes.create('highway-etcd-v2', {})
    expect(await runDown(docker, {purge: true})).toEqual({containers: [], networks: [], volumes: []})
    expect(docker.volumeState.has('highway-etcd-v2')).toBe(true)
  })
})
