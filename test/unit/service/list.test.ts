import type Docker from 'dockerode'
import {describe, expect, it} from 'vitest'
import type {Settings} from '../../../src/core/types.js'
import {serviceRows} from '../../../src/service/list.js'
import {BRIDGE_IP, IDS, makeRecord} from '../support/highway-fixtures.js'

const SETTINGS: Settings = {baseImage: 'debian:trixie-slim', bridgeIp: BRIDGE_IP, domain: 'local', etcdEndpoints: [], upstreamDns: []}

/** One entry of `docker ps -a` (GET /containers/json), API 1.41 shape. */
function listed(id: string, name: string, state: string, labels: Record<string, string>): Docker.ContainerInfo {
  return {
    Command: "nginx -g 'daemon off;'",
    Created: 1_795_000_000,
    HostConfig: {NetworkMode: 'default'},
    Id: id,
    Image: 'nginx:1.27',
    ImageID: 'sha256:3b25b682ea82b2db3cc4fd48db818be788ee3f902ac7378090cf2624ec2442df',
    Labels: labels,
    Mounts: [],
    Names: [`/${name}`],
    NetworkSettings: {Networks: {}},
    Ports: [],
    State: state,
    Status: state === 'running' ? 'Up 5 minutes' : 'Exited (0) 2 minutes ago',
  } as unknown as Docker.ContainerInfo
}

const svc = (name: string) => ({'io.highway.ports': '80/tcp', 'io.highway.service': name})

describe('serviceRows', () => {
  it('shows a registered running container with its backend and no problem', () => {
    const rows = serviceRows([makeRecord()], [listed(IDS.web1, 'web-1', 'running', svc('web'))], SETTINGS, 'hosta')
    expect(rows).toEqual([
      {
        backend: '172.17.0.1:49153',
        container: 'web-1',
        host: 'host-a',
        name: 'web',
        owner: null,
        problem: null,
        role: 'owner',
        state: 'running',
        tcp: [],
        url: 'http://web.local/',
      },
    ])
  })

  it('shows a stopped record with no backend, agreeing with docker', () => {
    const record = makeRecord({ports: [{address: BRIDGE_IP, containerPort: '80/tcp', port: 0}], state: 'stopped'})
    expect(serviceRows([record], [listed(IDS.web1, 'web-1', 'exited', svc('web'))], SETTINGS, 'hosta')).toEqual([
      {
        backend: '-',
        container: 'web-1',
        host: 'host-a',
        name: 'web',
        owner: null,
        problem: null,
        role: null,
        state: 'stopped',
        tcp: [],
        url: 'http://web.local/',
      },
    ])
  })

  it('flags a record of this host whose container is gone', () => {
    const [row] = serviceRows([makeRecord()], [], SETTINGS, 'hosta')
    expect(row.problem).toBe('container is gone (agent not caught up)')
    expect(row.state).toBe('running')
    expect(row.backend).toBe('172.17.0.1:49153')
  })

  it('flags a running record whose container docker reports exited', () => {
    const [row] = serviceRows([makeRecord()], [listed(IDS.web1, 'web-1', 'exited', svc('web'))], SETTINGS, 'hosta')
    expect(row.problem).toBe('docker says exited')
  })

  it('flags a stopped record whose container docker reports running', () => {
    const record = makeRecord({ports: [{address: BRIDGE_IP, containerPort: '80/tcp', port: 0}], state: 'stopped'})
    const [row] = serviceRows([record], [listed(IDS.web1, 'web-1', 'running', svc('web'))], SETTINGS, 'hosta')
    expect(row.problem).toBe('docker says running')
  })

  it('does not flag a stopped record of a paused container (neither is running)', () => {
    const record = makeRecord({ports: [{address: BRIDGE_IP, containerPort: '80/tcp', port: 0}], state: 'stopped'})
    const [row] = serviceRows([record], [listed(IDS.web1, 'web-1', 'paused', svc('web'))], SETTINGS, 'hosta')
    expect(row.problem).toBeNull()
  })

  it('never flags another host’s records, though their containers are not on this engine', () => {
    const remote = makeRecord({
      containerId: IDS.api,
      containerName: 'api-1',
      hostId: 'hostb',
      hostName: 'host-b',
      name: 'api',
      ports: [{address: '10.0.0.12', containerPort: '8080/tcp', port: 32_768}],
    })
    const remoteStopped = makeRecord({containerId: IDS.db, hostId: 'hostb', hostName: 'host-b', name: 'db', state: 'stopped'})
    expect(serviceRows([remote, remoteStopped], [], SETTINGS, 'hosta')).toEqual([
      {
        backend: '10.0.0.12:32768',
        container: 'api-1',
        host: 'host-b',
        name: 'api',
        owner: null,
        problem: null,
        role: 'owner',
        state: 'running',
        tcp: [],
        url: 'http://api.local/',
      },
      {
        backend: '172.17.0.1:49153',
        container: 'web-1',
        host: 'host-b',
        name: 'db',
        owner: null,
        problem: null,
        role: null,
        state: 'stopped',
        tcp: [],
        url: 'http://db.local/',
      },
    ])
  })

  it('adds a labelled container of this host that has no record, flagged', () => {
    const rows = serviceRows(
      [makeRecord()],
      [listed(IDS.web1, 'web-1', 'running', svc('web')), listed(IDS.web2, 'web-2', 'created', svc('web'))],
      SETTINGS,
      'hosta',
    )
    expect(rows).toEqual([
      {
        backend: '172.17.0.1:49153',
        container: 'web-1',
        host: 'host-a',
        name: 'web',
        owner: null,
        problem: null,
        role: 'owner',
        state: 'running',
        tcp: [],
        url: 'http://web.local/',
      },
      {
        backend: '-',
        container: 'web-2',
        host: '(this host)',
        name: 'web',
        owner: null,
        problem: 'not registered (agent down or behind?)',
        role: null,
        state: 'created',
        tcp: [],
        url: 'http://web.local/',
      },
    ])
  })

  it('says a label that is not a DNS label is never routed, rather than blaming the agent', () => {
    const [row] = serviceRows([], [listed(IDS.web2, 'web-2', 'running', svc('Web_App'))], SETTINGS, 'hosta')
    expect(row.problem).toBe('never routed: the name is not a DNS label')
  })

  it('shows a container that merely carries a held name as a conflict naming the owner, with no backend', () => {
    const owner = makeRecord({containerName: 'web', createdAt: '2026-11-27T09:00:00.000000000Z'})
    const squatter = makeRecord({
      containerId: IDS.web2,
      containerName: 'squat',
      createdAt: '2026-11-27T10:00:00.000000000Z',
      hostId: 'hostb',
      hostName: 'host-b',
      ports: [{address: '10.0.0.2', containerPort: '80/tcp', port: 40_000}],
    })
    const rows = serviceRows([squatter, owner], [listed(IDS.web1, 'web', 'running', svc('web'))], SETTINGS, 'hosta')
    expect(rows.map(({backend, container, owner, problem, role}) => ({backend, container, owner, problem, role}))).toEqual([
      {
        backend: '-',
        container: 'squat',
        owner: 'web on host-a',
        problem: 'conflict: web is owned by web on host-a, so this container gets no traffic',
        role: 'conflict',
      },
      {backend: '172.17.0.1:49153', container: 'web', owner: null, problem: null, role: 'owner'},
    ])
  })

  it('shows a replica beside its owner, with its backend and no problem', () => {
    const owner = makeRecord({containerName: 'api', createdAt: '2026-11-27T09:00:00.000000000Z', name: 'api'})
    const replica = makeRecord({
      containerId: IDS.web2,
      containerName: 'api-2',
      createdAt: '2026-11-27T10:00:00.000000000Z',
      name: 'api',
      ports: [{address: BRIDGE_IP, containerPort: '80/tcp', port: 49_154}],
      replica: true,
    })
    const containers = [listed(IDS.web1, 'api', 'running', svc('api')), listed(IDS.web2, 'api-2', 'running', svc('api'))]
    const rows = serviceRows([owner, replica], containers, SETTINGS, 'hosta')
    expect(rows.map(({backend, container, owner, problem, role}) => ({backend, container, owner, problem, role}))).toEqual([
      {backend: '172.17.0.1:49153', container: 'api', owner: null, problem: null, role: 'owner'},
      {backend: '172.17.0.1:49154', container: 'api-2', owner: 'api on host-a', problem: null, role: 'replica'},
    ])
  })

  it('says a container whose service label comes from its image is never routed, rather than blaming the agent', () => {
    const container = listed(IDS.web2, 'sneaky', 'running', svc('api'))
    const images = new Map([[container.ImageID, svc('api')]])
    const [row] = serviceRows([], [container], SETTINGS, 'hosta', images)
    expect(row.problem).toBe('never routed: the service label comes from its image')
    expect(row.role).toBeNull()
  })

  it('explains a replica-of label that names another service', () => {
    const container = listed(IDS.web2, 'odd', 'running', {...svc('api'), 'io.highway.replica-of': 'web'})
    expect(serviceRows([], [container], SETTINGS, 'hosta')[0].problem).toBe('never routed: io.highway.replica-of=web differs from io.highway.service=api')
  })

  it('ignores containers without the service label', () => {
    expect(serviceRows([], [listed(IDS.db, 'postgres', 'running', {'com.docker.compose.service': 'db'})], SETTINGS, 'hosta')).toEqual([])
  })

  it('names an unregistered container by its id when it has no name', () => {
    const container = listed(IDS.api, 'x', 'running', svc('api'))
    container.Names = []
    expect(serviceRows([], [container], SETTINGS, 'hosta')[0].container).toBe('3c3c3c3c3c3c')
  })

  it('names each published TCP port but 80 as name.domain:port where TCP by name is on, and none where it is off', () => {
    const record = makeRecord({
      ports: [
        {address: BRIDGE_IP, containerPort: '9090/tcp', port: 49153},
        {address: BRIDGE_IP, containerPort: '80/tcp', port: 49154},
        {address: BRIDGE_IP, containerPort: '6379/tcp', port: 49155},
        {address: BRIDGE_IP, containerPort: '53/udp', port: 49156},
      ],
    })
    expect(serviceRows([record], [], {...SETTINGS, tcpRange: '198.19.0.0/16'}, 'hosta')[0].tcp).toEqual(['web.local:6379', 'web.local:9090'])
    expect(serviceRows([record], [], SETTINGS, 'hosta')[0].tcp).toEqual([])
  })

  it('uses the configured domain in URLs', () => {
    const rows = serviceRows([makeRecord()], [listed(IDS.api, 'api', 'running', svc('api'))], {...SETTINGS, domain: 'dev.test'}, 'hosta')
    expect(rows.map((row) => row.url)).toEqual(['http://api.dev.test/', 'http://web.dev.test/'])
  })

  it('sorts rows by name, then container', () => {
    const records = [
      makeRecord({containerId: IDS.web2, containerName: 'web-b', hostId: 'hostb'}),
      makeRecord({containerId: IDS.api, containerName: 'api-1', hostId: 'hostb', name: 'api'}),
      makeRecord({containerId: IDS.web1, containerName: 'web-a', hostId: 'hostb'}),
    ]
    const rows = serviceRows(records, [listed(IDS.db, 'cache-1', 'running', svc('cache'))], SETTINGS, 'hosta')
    expect(rows.map((row) => `${row.name}/${row.container}`)).toEqual(['api/api-1', 'cache/cache-1', 'web/web-a', 'web/web-b'])
  })
})

describe('serviceRows with invalid records', () => {
  const badKey = `/highway/v2/hosts/hostb/services/api/${IDS.api}`

  it('shows each invalid key as a row of its own, with the key and the reason, beside the valid ones', () => {
    const rows = serviceRows([makeRecord()], [listed(IDS.web1, 'web-1', 'running', svc('web'))], SETTINGS, 'hosta', new Map(), [
      {key: badKey, reason: 'ports is missing', revision: '7'},
      {key: '/highway/v2/hosts/junk', reason: 'the key is not /highway/v2/hosts/<hostId>/services/<name>/<containerId>', revision: '8'},
    ])
    expect(rows).toEqual([
      {
        backend: '-',
        container: '-',
        host: '-',
        key: '/highway/v2/hosts/junk',
        name: '-',
        owner: null,
        problem: expect.stringContaining('the key is not'),
        role: null,
        state: 'invalid',
        tcp: [],
        url: '-',
      },
      {
        backend: '-',
        container: IDS.api.slice(0, 12),
        host: 'hostb',
        key: badKey,
        name: 'api',
        owner: null,
        problem: 'ports is missing',
        role: null,
        state: 'invalid',
        tcp: [],
        url: '-',
      },
      {
        backend: '172.17.0.1:49153',
        container: 'web-1',
        host: 'host-a',
        name: 'web',
        owner: null,
        problem: null,
        role: 'owner',
        state: 'running',
        tcp: [],
        url: 'http://web.local/',
      },
    ])
  })

  it('says a container of this host is unrouted because its record is invalid, not that the agent is behind', () => {
    const key = `/highway/v2/hosts/hosta/services/api/${IDS.api}`
    const rows = serviceRows([], [listed(IDS.api, 'api-1', 'running', svc('api'))], SETTINGS, 'hosta', new Map(), [
      {key, reason: 'state "x" is not running, stopped or unhealthy', revision: '3'},
    ])
    expect(rows.map((row) => [row.name, row.state, row.problem])).toEqual([
      ['api', 'invalid', 'state "x" is not running, stopped or unhealthy'],
      ['api', 'running', 'its record in etcd is invalid'],
    ])
  })
})
