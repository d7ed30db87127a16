import {describe, expect, it} from 'vitest'
import {
  claimedBefore,
  claimFrom,
  creationTime,
  diffRecords,
  recordFromContainer,
  sameRecord,
  standings,
  type HostInfo,
  type Standing,
} from '../../../src/agent/records.js'
import {labelsSetAtCreate} from '../../../src/core/labels.js'
import type {ServiceRecord} from '../../../src/core/types.js'
import {serviceKey} from '../../../src/registry/schema.js'
import {BRIDGE_IP, IDS, loadInspect, makeRecord} from '../support/highway-fixtures.js'

const HOST: HostInfo = {bridgeIp: BRIDGE_IP, id: 'hosta', name: 'host-a'}
const NOW = new Date('2026-11-27T09:20:00.000Z')

describe('recordFromContainer', () => {
  it('marks a running container whose health check fails as unhealthy, and routes one still starting', () => {
    const info = loadInspect('web-running-bridge.json')
    info.State.Health = {FailingStreak: 3, Log: [], Status: 'unhealthy'}
    expect(recordFromContainer(info, HOST, {}, NOW)?.state).toBe('unhealthy')
    info.State.Health = {FailingStreak: 0, Log: [], Status: 'starting'}
    expect(recordFromContainer(info, HOST, {}, NOW)?.state).toBe('running')
    info.State.Health = {FailingStreak: 0, Log: [], Status: 'healthy'}
    expect(recordFromContainer(info, HOST, {}, NOW)?.state).toBe('running')
  })

  it('orders published ports numerically when there is no ports label: HTTP goes to the lowest', () => {
    const info = loadInspect('compose-no-ports-label.json')
    info.Config.Labels = {'io.highway.service': 'web'}
    const binding = (port: string) => [{HostIp: BRIDGE_IP, HostPort: port}]
    info.HostConfig.PortBindings = {'10000/tcp': binding('1'), '443/tcp': binding('2'), '80/tcp': binding('3'), '9090/tcp': binding('4')}
    info.NetworkSettings.Ports = {'10000/tcp': binding('41000'), '443/tcp': binding('41443'), '80/tcp': binding('41080'), '9090/tcp': binding('41090')}
    const record = recordFromContainer(info, HOST, {}, NOW)
    expect(record?.ports.map((port) => port.containerPort)).toEqual(['80/tcp', '443/tcp', '9090/tcp', '10000/tcp'])
    expect(record?.ports[0].port).toBe(41_080)
  })

  it('records a running container published on the bridge IP', () => {
    expect(recordFromContainer(loadInspect('web-running-bridge.json'), HOST, {}, NOW)).toEqual({
      containerId: '4f2a9c1e7b3d5f6a8c0e2b4d6f8a1c3e5b7d9f0a2c4e6b8d1f3a5c7e9b0d2f4a',
      containerIp: '172.17.0.5',
      containerName: 'web-1',
      createdAt: '2026-11-27T09:14:03.118402711Z',
      hostId: 'hosta',
      hostName: 'host-a',
      name: 'web',
      ports: [{address: '172.17.0.1', containerPort: '80/tcp', port: 49_153}],
      replica: false,
      schema: 2,
      state: 'running',
      updatedAt: '2026-11-27T09:20:00.000Z',
    })
  })

  it('reaches a binding on every address (0.0.0.0, ::) at the bridge IP, and adds /tcp to a bare port label', () => {
    const record = recordFromContainer(loadInspect('api-running-all-interfaces.json'), HOST, {}, NOW)
    expect(record?.ports).toEqual([{address: BRIDGE_IP, containerPort: '8080/tcp', port: 32_768}])
    expect(record?.state).toBe('running')
    expect(record?.name).toBe('api')
  })

  it('maps 0.0.0.0 to the bridge IP of the host it is given', () => {
    const record = recordFromContainer(loadInspect('api-running-all-interfaces.json'), {...HOST, bridgeIp: '172.30.0.1'}, {}, NOW)
    expect(record?.ports).toEqual([{address: '172.30.0.1', containerPort: '8080/tcp', port: 32_768}])
  })

  it('with an advertise address, reaches a service there (its own binding or one on every address), never at the bridge IP other hosts share', () => {
    const advertised = {...HOST, advertiseIp: '10.0.0.5'}
    const info = loadInspect('api-running-all-interfaces.json')
    expect(recordFromContainer(info, advertised, {}, NOW)?.ports).toEqual([{address: '10.0.0.5', containerPort: '8080/tcp', port: 32_768}])
    info.NetworkSettings.Ports = {
      '8080/tcp': [
        {HostIp: BRIDGE_IP, HostPort: '32770'},
        {HostIp: '10.0.0.5', HostPort: '32771'},
      ],
    }
    expect(recordFromContainer(info, advertised, {}, NOW)?.ports).toEqual([{address: '10.0.0.5', containerPort: '8080/tcp', port: 32_771}])
    // Published on the bridge alone (labelled by hand): only this host reaches it, and other hosts refuse the record.
    info.NetworkSettings.Ports = {'8080/tcp': [{HostIp: BRIDGE_IP, HostPort: '32770'}]}
    expect(recordFromContainer(info, advertised, {}, NOW)?.ports).toEqual([{address: BRIDGE_IP, containerPort: '8080/tcp', port: 32_770}])
  })

  it('treats an empty HostIp like 0.0.0.0', () => {
    const info = loadInspect('api-running-all-interfaces.json')
    info.NetworkSettings.Ports = {'8080/tcp': [{HostIp: '', HostPort: '32770'}]}
    expect(recordFromContainer(info, HOST, {}, NOW)?.ports).toEqual([{address: BRIDGE_IP, containerPort: '8080/tcp', port: 32_770}])
  })

  it('prefers the binding on the bridge IP over one on every address', () => {
    const info = loadInspect('api-running-all-interfaces.json')
    info.NetworkSettings.Ports = {
      '8080/tcp': [
        {HostIp: '0.0.0.0', HostPort: '32768'},
        {HostIp: '127.0.0.1', HostPort: '32769'},
        {HostIp: BRIDGE_IP, HostPort: '32770'},
      ],
    }
    expect(recordFromContainer(info, HOST, {}, NOW)?.ports).toEqual([{address: BRIDGE_IP, containerPort: '8080/tcp', port: 32_770}])
  })

  it('keeps a binding on one specific address (127.0.0.1) at that address', () => {
    const record = recordFromContainer(loadInspect('admin-running-loopback.json'), HOST, {}, NOW)
    expect(record?.ports).toEqual([{address: '127.0.0.1', containerPort: '3000/tcp', port: 40_001}])
    expect(record?.state).toBe('running')
  })

  it('ignores an IPv6-only binding: no IPv4 address to route to, so the record is stopped', () => {
    const info = loadInspect('api-running-all-interfaces.json')
    info.NetworkSettings.Ports = {'8080/tcp': [{HostIp: '::', HostPort: '32768'}]}
    const record = recordFromContainer(info, HOST, {}, NOW)
    expect(record?.ports).toEqual([{address: BRIDGE_IP, containerPort: '8080/tcp', port: 0}])
    expect(record?.state).toBe('stopped')
  })

  it('records a stopped container as stopped with port 0 and no container IP', () => {
    expect(recordFromContainer(loadInspect('web-stopped.json'), HOST, {}, NOW)).toEqual({
      containerId: '4f2a9c1e7b3d5f6a8c0e2b4d6f8a1c3e5b7d9f0a2c4e6b8d1f3a5c7e9b0d2f4a',
      containerIp: '',
      containerName: 'web-1',
      createdAt: '2026-11-27T09:14:03.118402711Z',
      hostId: 'hosta',
      hostName: 'host-a',
      name: 'web',
      ports: [{address: BRIDGE_IP, containerPort: '80/tcp', port: 0}],
      replica: false,
      schema: 2,
      state: 'stopped',
      updatedAt: '2026-11-27T09:20:00.000Z',
    })
  })

  it.each([
    ['paused', {Paused: true, Status: 'paused'}],
    ['restarting', {Restarting: true, Status: 'restarting'}],
  ])('records a %s container as stopped with port 0 even though Running is true', (_what, state) => {
    const info = loadInspect('web-running-bridge.json')
    info.State = {...info.State, ...state}
    const record = recordFromContainer(info, HOST, {}, NOW)
    expect(record?.state).toBe('stopped')
    expect(record?.ports).toEqual([{address: BRIDGE_IP, containerPort: '80/tcp', port: 0}])
  })

  it('is stopped, every port 0, when one declared port is not published', () => {
    const info = loadInspect('web-running-bridge.json')
    info.Config.Labels = {...info.Config.Labels, 'io.highway.ports': '80/tcp, 443'}
    const record = recordFromContainer(info, HOST, {}, NOW)
    expect(record?.state).toBe('stopped')
    expect(record?.ports).toEqual([
      {address: BRIDGE_IP, containerPort: '80/tcp', port: 0},
      {address: BRIDGE_IP, containerPort: '443/tcp', port: 0},
    ])
  })

  it('is stopped when a running container declares no ports at all', () => {
    const info = loadInspect('web-running-bridge.json')
    info.Config.Labels = {'io.highway.service': 'web', 'io.highway.ports': ' , '}
    const record = recordFromContainer(info, HOST, {}, NOW)
    expect(record?.ports).toEqual([])
    expect(record?.state).toBe('stopped')
  })

  it('keeps the declared order and protocols of the ports label', () => {
    const info = loadInspect('web-running-bridge.json')
    info.Config.Labels = {'io.highway.service': 'web', 'io.highway.ports': '8443 ,80/tcp,53/udp'}
    info.NetworkSettings.Ports = {
      '53/udp': [{HostIp: BRIDGE_IP, HostPort: '49300'}],
      '80/tcp': [{HostIp: BRIDGE_IP, HostPort: '49301'}],
      '8443/tcp': [{HostIp: BRIDGE_IP, HostPort: '49302'}],
    }
    expect(recordFromContainer(info, HOST, {}, NOW)?.ports).toEqual([
      {address: BRIDGE_IP, containerPort: '8443/tcp', port: 49_302},
      {address: BRIDGE_IP, containerPort: '80/tcp', port: 49_301},
      {address: BRIDGE_IP, containerPort: '53/udp', port: 49_300},
    ])
  })

  it('returns null for a container without the service label', () => {
    expect(recordFromContainer(loadInspect('plain-unlabelled.json'), HOST, {}, NOW)).toBeNull()
  })

  it('returns null when Config.Labels is null', () => {
    const info = loadInspect('plain-unlabelled.json')
    ;(info.Config as {Labels: unknown}).Labels = null
    expect(recordFromContainer(info, HOST, {}, NOW)).toBeNull()
  })

  it('returns null for a service label that is not a DNS label', () => {
    expect(recordFromContainer(loadInspect('invalid-name.json'), HOST, {}, NOW)).toBeNull()
  })

  it.each(['', 'web\nbackend x', 'we"b', '-web', 'web.local'])('returns null for the service label %j', (name) => {
    const info = loadInspect('web-running-bridge.json')
    info.Config.Labels = {...info.Config.Labels, 'io.highway.service': name}
    expect(recordFromContainer(info, HOST, {}, NOW)).toBeNull()
  })

  it('without a ports label, uses the published ports sorted, and no direct address off the default bridge', () => {
    expect(recordFromContainer(loadInspect('compose-no-ports-label.json'), HOST, {}, NOW)).toEqual({
      containerId: 'f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8',
      containerIp: '',
      containerName: 'metrics-prometheus-1',
      createdAt: '2026-11-27T09:14:03.118402711Z',
      hostId: 'hosta',
      hostName: 'host-a',
      name: 'metrics',
      ports: [
        {address: BRIDGE_IP, containerPort: '8080/tcp', port: 49_201},
        {address: BRIDGE_IP, containerPort: '9090/tcp', port: 49_200},
      ],
      replica: false,
      schema: 2,
      state: 'running',
      updatedAt: '2026-11-27T09:20:00.000Z',
    })
  })

  it('has no ports when there is neither a ports label nor a port binding', () => {
    const info = loadInspect('compose-no-ports-label.json')
    info.HostConfig.PortBindings = {}
    const record = recordFromContainer(info, HOST, {}, NOW)
    expect(record?.ports).toEqual([])
    expect(record?.state).toBe('stopped')
  })

  it('reads a null binding list (exposed but not published) as unpublished', () => {
    const info = loadInspect('web-running-bridge.json')
    ;(info.NetworkSettings.Ports as Record<string, unknown>)['80/tcp'] = null
    expect(recordFromContainer(info, HOST, {}, NOW)?.ports).toEqual([{address: BRIDGE_IP, containerPort: '80/tcp', port: 0}])
  })

  it('stamps updatedAt with the given time', () => {
    const later = new Date('2030-05-06T07:08:09.010Z')
    expect(recordFromContainer(loadInspect('web-running-bridge.json'), HOST, {}, later)?.updatedAt).toBe('2030-05-06T07:08:09.010Z')
  })
})

describe('recordFromContainer: only labels set at creation count', () => {
  const baked = {'io.highway.ports': '80/tcp', 'io.highway.service': 'web', maintainer: 'someone'}

  it('registers nothing when the service label is the image’s own', () => {
    const info = loadInspect('web-running-bridge.json')
    info.Config.Labels = {...baked}
    expect(recordFromContainer(info, HOST, baked, NOW)).toBeNull()
  })

  it('registers a container whose service label was given at create over an image that has one', () => {
    const info = loadInspect('web-running-bridge.json')
    info.Config.Labels = {...baked, 'io.highway.service': 'shop'}
    const record = recordFromContainer(info, HOST, baked, NOW)
    expect(record?.name).toBe('shop')
    // The image's ports label is not the container's: its published ports are used instead.
    expect(record?.ports).toEqual([{address: BRIDGE_IP, containerPort: '80/tcp', port: 49_153}])
  })

  it('trusts no highway label when the image cannot be read', () => {
    expect(recordFromContainer(loadInspect('web-running-bridge.json'), HOST, null, NOW)).toBeNull()
  })

  it('records the creation time, normalised, and whether the container is a replica', () => {
    const info = loadInspect('web-running-bridge.json')
    info.Created = '2026-11-27T09:14:03.1184Z'
    info.Config.Labels = {...info.Config.Labels, 'io.highway.replica-of': 'web'}
    expect(recordFromContainer(info, HOST, {}, NOW)).toMatchObject({createdAt: '2026-11-27T09:14:03.118400000Z', replica: true, schema: 2})
  })

  it('registers nothing when io.highway.replica-of names another service', () => {
    const info = loadInspect('web-running-bridge.json')
    info.Config.Labels = {...info.Config.Labels, 'io.highway.replica-of': 'api'}
    expect(recordFromContainer(info, HOST, {}, NOW)).toBeNull()
  })
})

describe('labelsSetAtCreate', () => {
  it('keeps labels the image lacks or has with another value, drops the image’s own', () => {
    const labels = {a: '1', b: '2', c: '3'}
    expect(labelsSetAtCreate(labels, {a: '1', b: 'other'})).toEqual({b: '2', c: '3'})
  })

  it('drops every highway label, and only those, when the image is unknown', () => {
    expect(labelsSetAtCreate({'io.highway.service': 'web', 'io.highwayx': 'y', other: 'z'}, null)).toEqual({'io.highwayx': 'y', other: 'z'})
  })

  it('reads null labels as none', () => {
    expect(labelsSetAtCreate(null, {})).toEqual({})
  })
})

describe('claimFrom', () => {
  it.each<[string, Record<string, string>, Record<string, string> | null, ReturnType<typeof claimFrom>]>([
    ['no service label', {other: 'x'}, {}, null],
    ['a service label', {'io.highway.service': 'api'}, {}, {name: 'api', ports: undefined, replica: false}],
    ['a replica', {'io.highway.replica-of': 'api', 'io.highway.service': 'api'}, {}, {name: 'api', ports: undefined, replica: true}],
    ['the image’s service label', {'io.highway.service': 'api'}, {'io.highway.service': 'api'}, {unusable: 'the service label comes from its image'}],
    ['an unreadable image', {'io.highway.service': 'api'}, null, {unusable: 'its image cannot be read, so its labels cannot be told from the image’s'}],
    ['a bad name', {'io.highway.service': 'Api_1'}, {}, {unusable: 'the name is not a DNS label'}],
    [
      'replica-of another name',
      {'io.highway.replica-of': 'web', 'io.highway.service': 'api'},
      {},
      {unusable: 'io.highway.replica-of=web differs from io.highway.service=api'},
    ],
    // The image may say it is a replica; only a replica-of given at create makes one.
    [
      'the image’s replica label',
      {'io.highway.replica-of': 'api', 'io.highway.service': 'api'},
      {'io.highway.replica-of': 'api'},
      {name: 'api', ports: undefined, replica: false},
    ],
  ])('reads %s', (_what, labels, image, claim) => {
    expect(claimFrom(labels, image)).toEqual(claim)
  })
})

describe('creationTime', () => {
  it.each([
    ['2026-11-27T09:14:03.118402711Z', '2026-11-27T09:14:03.118402711Z'],
    ['2026-11-27T09:14:03.1184Z', '2026-11-27T09:14:03.118400000Z'],
    ['2026-11-27T09:14:03Z', '2026-11-27T09:14:03.000000000Z'],
    ['2026-11-27T10:14:03.5+01:00', '2026-11-27T09:14:03.500000000Z'],
  ])('normalises %s', (created, normalised) => {
    expect(creationTime(created)).toBe(normalised)
  })

  it.each([undefined, '', 'yesterday', '2026-11-27 09:14:03Z', '2026-13-45T99:14:03Z'])('sorts %j last', (created) => {
    expect(creationTime(created)).toBe('9999-12-31T23:59:59.999999999Z')
  })

  it('keeps time order as string order where Docker’s trimmed fractions do not', () => {
    const earlier = '2026-11-27T09:14:03.1184Z'
    const later = '2026-11-27T09:14:03.11841Z'
    expect(later < earlier).toBe(true)
    expect(creationTime(earlier) < creationTime(later)).toBe(true)
  })
})

describe('standings', () => {
  const owner = makeRecord({containerId: IDS.web2, containerName: 'web', createdAt: '2026-11-27T09:00:00.000000000Z'})
  const squatter = makeRecord({containerId: IDS.web1, containerName: 'squat', createdAt: '2026-11-27T10:00:00.000000000Z', hostId: 'hostb'})
  const replica = makeRecord({containerId: IDS.api, containerName: 'web-2', createdAt: '2026-11-27T11:00:00.000000000Z', replica: true})
  const roles = (records: ServiceRecord[]) => {
    const result = standings(records)
    return records.map((record) => {
      const standing = result.get(record) as Standing
      return `${record.containerName}:${standing.role}${'owner' in standing ? `->${standing.owner.containerName}` : ''}`
    })
  }

  it('gives the name to the earliest-created running container: a later one is a conflict, a replica joins', () => {
    expect(roles([squatter, replica, owner])).toEqual(['squat:conflict->web', 'web-2:replica->web', 'web:owner'])
  })

  it('picks the same owner whatever order the records arrive in (every host renders alike)', () => {
    const records = [owner, squatter, replica]
    const orders = [records, [...records].reverse(), [replica, owner, squatter], [squatter, owner, replica]]
    for (const order of orders) {
      const result = standings(order)
      expect(result.get(owner)).toEqual({role: 'owner'})
      expect(result.get(squatter)).toEqual({owner, role: 'conflict'})
    }
  })

  it('breaks a tie of creation times by container id, then host id', () => {
    const a = makeRecord({containerId: IDS.web1, containerName: 'a'})
    const b = makeRecord({containerId: IDS.web2, containerName: 'b'})
    expect(roles([b, a])).toEqual(['b:conflict->a', 'a:owner'])
    expect(claimedBefore(a, b)).toBe(true)
    expect(claimedBefore(b, a)).toBe(false)
    const onA = makeRecord({hostId: 'hosta'})
    const onB = makeRecord({hostId: 'hostb'})
    expect(claimedBefore(onA, onB)).toBe(true)
    expect(claimedBefore(onB, onA)).toBe(false)
  })

  it('lets a stopped owner hold nothing, and gives the name back when it runs again', () => {
    const stopped = {...owner, state: 'stopped' as const}
    expect(roles([stopped, squatter, replica])).toEqual(['web:stopped', 'squat:owner', 'web-2:replica->squat'])
    expect(roles([owner, squatter, replica])).toEqual(['web:owner', 'squat:conflict->web', 'web-2:replica->web'])
  })

  it('keeps the name with an unhealthy owner: a healthy later container still gets none of it', () => {
    const sick = {...owner, state: 'unhealthy' as const}
    expect(roles([sick, squatter])).toEqual(['web:owner', 'squat:conflict->web'])
  })

  it('makes the first replica of an unowned name its owner', () => {
    const first = makeRecord({containerId: IDS.web1, containerName: 'a', replica: true})
    const second = makeRecord({containerId: IDS.web2, containerName: 'b', replica: true})
    expect(roles([second, first])).toEqual(['b:replica->a', 'a:owner'])
  })

  it('judges each name apart', () => {
    const api = makeRecord({containerId: IDS.db, containerName: 'api', createdAt: '2030-01-01T00:00:00.000000000Z', name: 'api'})
    expect(roles([squatter, api])).toEqual(['squat:owner', 'api:owner'])
  })
})

describe('sameRecord', () => {
  it('ignores updatedAt', () => {
    expect(sameRecord(makeRecord(), makeRecord({updatedAt: '2031-01-01T00:00:00.000Z'}))).toBe(true)
  })

  it.each<[string, Partial<ServiceRecord>]>([
    ['state', {state: 'stopped'}],
    ['ports', {ports: [{address: BRIDGE_IP, containerPort: '80/tcp', port: 49_154}]}],
    ['address', {ports: [{address: '10.0.0.9', containerPort: '80/tcp', port: 49_153}]}],
    ['containerIp', {containerIp: '172.17.0.9'}],
    ['containerName', {containerName: 'web-9'}],
    ['hostName', {hostName: 'host-z'}],
    ['createdAt', {createdAt: '2026-11-27T09:14:03.118402712Z'}],
    ['replica', {replica: true}],
  ])('sees a change of %s', (_what, change) => {
    expect(sameRecord(makeRecord(), makeRecord(change))).toBe(false)
    expect(sameRecord(makeRecord(change), makeRecord({...change, updatedAt: '2031-01-01T00:00:00.000Z'}))).toBe(true)
  })

  it('does not modify its arguments', () => {
    const a = makeRecord()
    sameRecord(a, makeRecord())
    expect(a.updatedAt).toBe('2026-11-27T09:14:04.000Z')
  })
})

describe('diffRecords', () => {
  const unchanged = makeRecord({containerId: IDS.web1})
  const changedOld = makeRecord({containerId: IDS.web2, containerName: 'web-2', state: 'running'})
  const changedNew = makeRecord({
    containerId: IDS.web2,
    containerName: 'web-2',
    ports: [{address: BRIDGE_IP, containerPort: '80/tcp', port: 0}],
    state: 'stopped',
    updatedAt: '2026-11-27T10:00:00.000Z',
  })
  const added = makeRecord({containerId: IDS.api, containerName: 'api', name: 'api'})
  const orphan = makeRecord({containerId: IDS.db, containerName: 'db', name: 'db'})
  const otherHosts = makeRecord({containerId: 'f'.repeat(64), hostId: 'hostb', hostName: 'host-b'})
  const otherHostsOrphanName = makeRecord({containerId: 'e'.repeat(64), hostId: 'hostc', hostName: 'host-c', name: 'db'})

  const current = new Map<string, ServiceRecord>(
    [unchanged, changedOld, orphan, otherHosts, otherHostsOrphanName].map((record) => [serviceKey(record), record]),
  )

  it('puts only new and changed records, and deletes only this host’s keys with no container', () => {
    const desired = [{...unchanged, updatedAt: '2026-11-27T10:00:00.000Z'}, changedNew, added]
    expect(diffRecords(desired, current, 'hosta')).toEqual({
      delete: [`/highway/v2/hosts/hosta/services/db/${IDS.db}`],
      put: [changedNew, added],
    })
  })

  it('never deletes other hosts’ records, even when this host has nothing', () => {
    expect(diffRecords([], current, 'hosta')).toEqual({
      delete: [
        `/highway/v2/hosts/hosta/services/web/${IDS.web1}`,
        `/highway/v2/hosts/hosta/services/web/${IDS.web2}`,
        `/highway/v2/hosts/hosta/services/db/${IDS.db}`,
      ],
      put: [],
    })
    expect(diffRecords([], current, 'hostb')).toEqual({delete: [`/highway/v2/hosts/hostb/services/web/${'f'.repeat(64)}`], put: []})
  })

  it('does nothing when etcd already holds exactly the desired records', () => {
    const own = new Map([unchanged, changedOld].map((record) => [serviceKey(record), record]))
    expect(diffRecords([{...unchanged, updatedAt: 'x'}, changedOld], own, 'hosta')).toEqual({delete: [], put: []})
  })

  it('puts everything into an empty etcd', () => {
    expect(diffRecords([unchanged, added], new Map(), 'hosta')).toEqual({delete: [], put: [unchanged, added]})
  })

  it('deletes the old key and puts the new one when a container is renamed to another service name', () => {
    const renamed = makeRecord({containerId: IDS.web1, name: 'site'})
    const own = new Map([[serviceKey(unchanged), unchanged]])
    expect(diffRecords([renamed], own, 'hosta')).toEqual({delete: [`/highway/v2/hosts/hosta/services/web/${IDS.web1}`], put: [renamed]})
  })
})
