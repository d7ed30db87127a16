import {describe, expect, it} from 'vitest'
import {parseTcpTable, renderHosts, renderTcpTable, type TcpInput} from '../../../src/tcp/table.js'
import {BRIDGE_IP, IDS, makeRecord} from '../support/highway-fixtures.js'

const RANGE = '198.19.0.0/16'
const input = (records: TcpInput['records'], extra: Partial<TcpInput> = {}): TcpInput => ({
  bridgeIp: BRIDGE_IP,
  domain: 'local',
  localHostId: 'hosta',
  range: RANGE,
  records,
  ...extra,
})
const redis = (name: string, id: string, containerIp: string, overrides = {}) =>
  makeRecord({containerId: id, containerIp, containerName: name, name, ports: [{address: BRIDGE_IP, containerPort: '6379/tcp', port: 49_200}], ...overrides})

describe('renderTcpTable', () => {
  it('gives two services on one port an address each, each forwarding to its own container directly on this host', () => {
    const table = renderTcpTable(input([redis('cache-a', IDS.web1, '172.17.0.5'), redis('cache-b', IDS.web2, '172.17.0.6')]))
    expect(table.names).toEqual([
      {address: '198.19.0.2', name: 'cache-a', ports: [{backends: [{address: '172.17.0.5', id: IDS.web1.slice(0, 12), port: 6379}], port: 6379}]},
      {address: '198.19.0.3', name: 'cache-b', ports: [{backends: [{address: '172.17.0.6', id: IDS.web2.slice(0, 12), port: 6379}], port: 6379}]},
    ])
    expect(table.http).toEqual({address: BRIDGE_IP, port: 80})
  })

  it('reaches another host’s container at its published address, and a replica beside the owner', () => {
    const remote = redis('cache', IDS.web1, '172.17.0.5', {hostId: 'hostb', ports: [{address: '10.0.0.2', containerPort: '6379/tcp', port: 49_200}]})
    const replica = redis('cache', IDS.web2, '172.17.0.6', {createdAt: '2026-11-27T09:15:03.118402711Z', replica: true})
    const [entry] = renderTcpTable(input([remote, replica])).names
    expect(entry.ports[0].backends.map((backend) => `${backend.address}:${backend.port}`)).toEqual(['10.0.0.2:49200', '172.17.0.6:6379'])
  })

  it('keeps a stopped name’s address with no port (a connect is refused), and gives a conflicting container no traffic', () => {
    const stopped = redis('cache', IDS.web1, '172.17.0.5', {state: 'stopped'})
    const conflict = redis('web', IDS.web2, '172.17.0.6', {createdAt: '2026-11-27T09:15:03.118402711Z'})
    const owner = redis('web', IDS.api, '172.17.0.7')
    const names = renderTcpTable(input([stopped, conflict, owner])).names
    expect(names.map((entry) => [entry.name, entry.ports.flatMap((port) => port.backends.map((backend) => backend.address))])).toEqual([
      ['cache', []],
      ['web', ['172.17.0.7']],
    ])
  })

  it('leaves port 80 to the HTTP proxy and udp ports out', () => {
    const record = makeRecord({
      ports: [
        {address: BRIDGE_IP, containerPort: '80/tcp', port: 49_201},
        {address: BRIDGE_IP, containerPort: '53/udp', port: 49_202},
        {address: BRIDGE_IP, containerPort: '5432/tcp', port: 49_203},
      ],
    })
    expect(renderTcpTable(input([record])).names[0].ports.map((port) => port.port)).toEqual([5432])
  })

  it('drops backends that would loop into highway: its range, loopback, its own listeners on the bridge', () => {
    const records = [
      redis('a', IDS.web1, '', {hostId: 'hostb', ports: [{address: '198.19.0.9', containerPort: '6379/tcp', port: 6379}]}),
      redis('b', IDS.web2, '', {hostId: 'hostb', ports: [{address: '127.0.0.1', containerPort: '6379/tcp', port: 6379}]}),
      redis('c', IDS.api, '', {hostId: 'hostb', ports: [{address: BRIDGE_IP, containerPort: '6379/tcp', port: 2379}]}),
    ]
    expect(renderTcpTable(input(records)).names.map((entry) => entry.ports)).toEqual([[], [], []])
  })

  it('keeps every name’s address from the table before, and frees a gone name’s for the next one', () => {
    const before = renderTcpTable(input([redis('a', IDS.web1, '172.17.0.5'), redis('b', IDS.web2, '172.17.0.6')]))
    const after = renderTcpTable(input([redis('b', IDS.web2, '172.17.0.6'), redis('c', IDS.api, '172.17.0.7')], {previous: before}))
    expect(after.names.map((entry) => [entry.name, entry.address])).toEqual([
      ['b', '198.19.0.3'],
      ['c', '198.19.0.2'],
    ])
  })

  it('never renders a record whose name is not a DNS label', () => {
    expect(renderTcpTable(input([redis('Bad_Name', IDS.web1, '172.17.0.5')])).names).toEqual([])
  })
})

describe('renderHosts', () => {
  it('writes one hosts line per name under the table’s domain, for the names the forwarder serves', () => {
    const table = renderTcpTable(input([redis('cache-a', IDS.web1, '172.17.0.5'), redis('cache-b', IDS.web2, '172.17.0.6')], {domain: 'test'}))
    expect(renderHosts(table)).toBe('198.19.0.2 cache-a.test\n198.19.0.3 cache-b.test\n')
    expect(renderHosts(table, (entry) => entry.name === 'cache-b')).toBe('198.19.0.3 cache-b.test\n')
  })
})

describe('parseTcpTable', () => {
  const good = renderTcpTable(input([redis('cache-a', IDS.web1, '172.17.0.5')]))

  it('reads back what the agent writes', () => {
    expect(parseTcpTable(JSON.stringify(good))).toEqual(good)
  })

  it('refuses what is not a table', () => {
    for (const text of [
      '',
      'nope',
      'null',
      '{"schema":2}',
      JSON.stringify({...good, range: '127.0.0.0/16'}),
      JSON.stringify({...good, http: {address: 'x', port: 80}}),
    ]) {
      expect(parseTcpTable(text), text).toBeNull()
    }
  })

  it('drops entries that are not safe to listen on or forward to, whoever wrote them', () => {
    const hostile = {
      ...good,
      names: [
        ...good.names,
        {address: '10.0.0.5', name: 'outside', ports: []},
        {address: '198.19.0.9', name: 'bad name', ports: []},
        {address: '198.19.0.10', name: 'loop', ports: [{backends: [{address: '127.0.0.1', id: 'x', port: 22}], port: 2222}]},
        {address: '198.19.0.11', name: 'web', ports: [{backends: [{address: '172.17.0.9', id: 'x', port: 8080}], port: 80}]},
      ],
    }
    expect(parseTcpTable(JSON.stringify(hostile))?.names).toEqual([
      ...good.names,
      {address: '198.19.0.10', name: 'loop', ports: []},
      {address: '198.19.0.11', name: 'web', ports: []},
    ])
  })
})
