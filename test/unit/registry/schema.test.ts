import {describe, expect, it} from 'vitest'
import type {AgentReport} from '../../../src/core/types.js'
import {
  HOSTS,
  HOST_ID,
  ROOT,
  agentKey,
  agentReportProblem,
  backendProblem,
  checkRecord,
  hostPrefix,
  parseAgentKey,
  parseAgentReport,
  parseProbe,
  parseRecord,
  parseServiceKey,
  serviceKey,
} from '../../../src/registry/schema.js'
import {BRIDGE_IP, IDS, makeRecord} from '../support/highway-fixtures.js'

const record = makeRecord()
const key = `/highway/v2/hosts/hosta/services/web/${IDS.web1}`

describe('keys', () => {
  it('lays records out under /highway/v2/hosts/<hostId>/services/<name>/<containerId>', () => {
    expect(ROOT).toBe('/highway/v2/')
    expect(HOSTS).toBe('/highway/v2/hosts/')
    expect(serviceKey(record)).toBe(key)
    expect(agentKey('hosta')).toBe('/highway/v2/hosts/hosta/agent')
  })

  it('puts everything a host writes under its own prefix, and nothing of another host’s there', () => {
    // etcd's roles grant key ranges: a host's role writes hostPrefix(id), so both its keys must be in it.
    expect(serviceKey(record).startsWith(hostPrefix('hosta'))).toBe(true)
    expect(agentKey('hosta').startsWith(hostPrefix('hosta'))).toBe(true)
    // A host whose id is a prefix of another's must not reach into its range: the prefix ends in '/'.
    expect(serviceKey({...record, hostId: 'hostab'}).startsWith(hostPrefix('hosta'))).toBe(false)
    expect(agentKey('hostab').startsWith(hostPrefix('hosta'))).toBe(false)
  })

  it.each(['a', '0123456789abcdef', 'host-1'])('takes %j as a host id', (id) => {
    expect(HOST_ID.test(id)).toBe(true)
  })

  it.each(['', 'a/b', '..', 'Host', '-a', 'a b', 'x'.repeat(64)])('refuses %j as a host id', (id) => {
    expect(HOST_ID.test(id)).toBe(false)
  })

  it('tells an agent key from a service key', () => {
    expect(parseAgentKey(agentKey('hosta'))).toBe('hosta')
    expect(parseAgentKey(key)).toBeNull()
    expect(parseServiceKey(agentKey('hosta'))).toBeNull()
    for (const candidate of ['/highway/v2/hosts/hosta/agent/', '/highway/v2/hosts//agent', '/highway/v2/hosts/hosta/agents', '/highway/v1/agents/hosta']) {
      expect(parseAgentKey(candidate), candidate).toBeNull()
    }
  })

  it('round-trips a key', () => {
    expect(parseServiceKey(serviceKey(record))).toEqual({containerId: IDS.web1, hostId: 'hosta', name: 'web'})
    const parsed = parseServiceKey(serviceKey({containerId: 'abc', hostId: 'h1', name: 'a-b'}))
    expect(parsed).toEqual({containerId: 'abc', hostId: 'h1', name: 'a-b'})
    expect(serviceKey(parsed!)).toBe('/highway/v2/hosts/h1/services/a-b/abc')
  })

  it.each([
    ['the version 1 layout', `/highway/v1/services/web/hosta/${IDS.web1}`],
    ['an agent key', '/highway/v2/hosts/hosta/agent'],
    ['no container', '/highway/v2/hosts/hosta/services/web'],
    ['one part too many', `/highway/v2/hosts/hosta/services/web/${IDS.web1}/extra`],
    ['a trailing slash', `/highway/v2/hosts/hosta/services/web/${IDS.web1}/`],
    ['an empty host', `/highway/v2/hosts//services/web/${IDS.web1}`],
    ['an empty name', `/highway/v2/hosts/hosta/services//${IDS.web1}`],
    ['another kind than services', `/highway/v2/hosts/hosta/other/web/${IDS.web1}`],
    ['the bare prefix', '/highway/v2/hosts/'],
    ['no leading slash', `highway/v2/hosts/hosta/services/web/${IDS.web1}`],
  ])('refuses a key with %s', (_what, candidate) => {
    expect(parseServiceKey(candidate)).toBeNull()
  })
})

describe('parseRecord', () => {
  it('parses the JSON stored under its own key', () => {
    expect(parseRecord(key, JSON.stringify(record))).toEqual(record)
  })

  it('rejects a record whose name differs from the key’s', () => {
    expect(parseRecord(`/highway/v2/hosts/hosta/services/api/${IDS.web1}`, JSON.stringify(record))).toBeNull()
  })

  it('rejects a record whose container id differs from the key’s', () => {
    expect(parseRecord(`/highway/v2/hosts/hosta/services/web/${IDS.web2}`, JSON.stringify(record))).toBeNull()
  })

  it('rejects a record whose host id differs from the key’s (another host would delete it as its own orphan)', () => {
    expect(parseRecord(`/highway/v2/hosts/hostb/services/web/${IDS.web1}`, JSON.stringify(record))).toBeNull()
  })

  it('rejects a value under a key that is not a service key', () => {
    expect(parseRecord('/highway/v2/hosts/hosta/agent', JSON.stringify(record))).toBeNull()
  })

  it.each(['', '{', 'not json', `${JSON.stringify(record)}}`, 'null', '42', '"web"', '[]', 'true'])('rejects the value %j', (value) => {
    expect(parseRecord(key, value)).toBeNull()
  })

  it.each([1, 3, 0, '1', null])('rejects schema %j', (schema) => {
    expect(parseRecord(key, JSON.stringify({...record, schema}))).toBeNull()
  })

  it('rejects a record without a schema', () => {
    const {schema: _schema, ...rest} = record
    expect(parseRecord(key, JSON.stringify(rest))).toBeNull()
  })
})

/** The reason checkRecord gives for this record (as JSON) under the fixture's key, on this host's bridge. */
function reason(value: unknown, under = key): string {
  const check = checkRecord(under, JSON.stringify(value), {bridgeIp: BRIDGE_IP})
  expect(check.ok, 'the record was accepted').toBe(false)
  return check.ok ? '' : check.reason
}

/** The fixture record with `field` replaced by `value` (undefined: removed). */
function withField(field: string, value: unknown): Record<string, unknown> {
  const copy: Record<string, unknown> = {...record}
  if (value === undefined) delete copy[field]
  else copy[field] = value
  return copy
}

describe('checkRecord', () => {
  it('accepts a well-formed record under its own key, stopped, unhealthy, without ports or off the bridge', () => {
    const context = {bridgeIp: BRIDGE_IP}
    expect(checkRecord(key, JSON.stringify(record), context)).toEqual({ok: true, record})
    const variants = [
      makeRecord({ports: [{address: BRIDGE_IP, containerPort: '80/tcp', port: 0}], state: 'stopped'}),
      makeRecord({state: 'unhealthy'}),
      makeRecord({ports: [], state: 'stopped'}),
      makeRecord({containerIp: ''}),
      makeRecord({ports: [{address: '10.0.0.12', containerPort: '53/udp', port: 32_768}]}),
      // The bridge IP on a port that is not one of highway's own: a service published there.
      makeRecord({ports: [{address: BRIDGE_IP, containerPort: '80/tcp', port: 8080}]}),
    ]
    for (const variant of variants) expect(checkRecord(key, JSON.stringify(variant), context)).toEqual({ok: true, record: variant})
  })

  it('keeps fields it does not know (a newer agent may add some)', () => {
    const newer = {...record, replicaOf: 'web'}
    expect(checkRecord(key, JSON.stringify(newer))).toEqual({ok: true, record: newer})
  })

  it.each([
    ['without ports (the record that crash-looped every agent)', withField('ports', undefined), 'ports is missing'],
    ['with ports as an object', withField('ports', {0: record.ports[0]}), 'ports is not an array'],
    ['with a null port entry', withField('ports', [null]), 'ports[0] is not an object (null)'],
    ['with a numeric containerPort', withField('ports', [{...record.ports[0], containerPort: 80}]), 'ports[0].containerPort is not a string (80)'],
    ['with a containerPort without protocol', withField('ports', [{...record.ports[0], containerPort: '80'}]), 'ports[0].containerPort "80" is not'],
    ['with containerPort 0', withField('ports', [{...record.ports[0], containerPort: '0/tcp'}]), 'ports[0].containerPort "0/tcp" is not'],
    ['with containerPort 70000', withField('ports', [{...record.ports[0], containerPort: '70000/tcp'}]), 'is not <port>/<tcp|udp|sctp>'],
    ['with a string port', withField('ports', [{...record.ports[0], port: '80'}]), 'ports[0].port is not a number ("80")'],
    ['with port -1', withField('ports', [{...record.ports[0], port: -1}]), 'ports[0].port -1 is not a port number'],
    ['with port 65536', withField('ports', [{...record.ports[0], port: 65_536}]), 'ports[0].port 65536 is not a port number'],
    ['with port 80.5', withField('ports', [{...record.ports[0], port: 80.5}]), 'ports[0].port 80.5 is not a port number'],
    ['with a host name as address', withField('ports', [{...record.ports[0], address: 'localhost'}]), 'ports[0].address: "localhost" is not an IPv4'],
    ['with an IPv6 address', withField('ports', [{...record.ports[0], address: '::1'}]), 'ports[0].address: "::1" is not an IPv4'],
    ['with a smuggled config line', withField('ports', [{...record.ports[0], address: '1.2.3.4 check\nbackend x'}]), 'is not an IPv4 address'],
    ['in state "dead"', withField('state', 'dead'), 'state "dead" is not running, stopped or unhealthy'],
    ['without a state', withField('state', undefined), 'state is missing'],
    ['with an upper-case name', {...withField('name', 'Web')}, 'name "Web" is not a DNS label'],
    ['with a short container id', withField('containerId', 'abc'), 'containerId "abc" is not a container id'],
    ['with a host id holding a space', withField('hostId', 'host a'), 'hostId "host a" is not a host id'],
    ['with a newline in the host name', withField('hostName', 'host\nb'), 'hostName "host\\nb" is not a host name'],
    ['with a 300-character container name', withField('containerName', 'a'.repeat(300)), 'containerName "aaaa'],
    ['with a bidi control in the container name', withField('containerName', 'web\u202e1'), 'containerName "web\\u202e1" is not a container name'],
    ['with a non-IPv4 containerIp', withField('containerIp', 'web'), 'containerIp: "web" is not an IPv4 address'],
    ['with a numeric updatedAt', withField('updatedAt', 5), 'updatedAt is not a string (5)'],
    ['with an unparseable updatedAt', withField('updatedAt', 'yesterday'), 'updatedAt "yesterday" is not a timestamp'],
    ['with schema 1', withField('schema', 1), 'schema 1 is not 2'],
    [
      'with 5000 ports',
      withField(
        'ports',
        Array.from({length: 5000}, () => record.ports[0]),
      ),
      'ports has 5000 entries (at most 4096)',
    ],
  ])('refuses a record %s', (_what, value, expected) => {
    expect(reason(value)).toContain(expected)
  })

  it.each([
    ['0.0.0.0', 'is not a routable address'],
    ['0.1.2.3', 'is not a routable address'],
    ['127.0.0.1', 'is a loopback address'],
    ['127.255.0.9', 'is a loopback address'],
    ['169.254.169.254', 'is a link-local address'],
    ['224.0.0.1', 'is a multicast, reserved or broadcast address'],
    ['239.255.255.250', 'is a multicast, reserved or broadcast address'],
    ['255.255.255.255', 'is a multicast, reserved or broadcast address'],
  ])('refuses the backend address %s in a port and as containerIp', (address, expected) => {
    expect(reason(makeRecord({ports: [{address, containerPort: '80/tcp', port: 8080}]}))).toBe(`ports[0].address: ${address} ${expected}`)
    expect(reason(makeRecord({containerIp: address}))).toBe(`containerIp: ${address} ${expected}`)
  })

  it.each([80, 53, 2379])('refuses the bridge IP with highway’s own port %i, and the bridge IP as a container address', (port) => {
    expect(reason(makeRecord({ports: [{address: BRIDGE_IP, containerPort: '80/tcp', port}]}))).toBe(
      `ports[0].address: ${BRIDGE_IP}:${port} is highway's own listener on the bridge`,
    )
    expect(reason(makeRecord({containerIp: BRIDGE_IP}))).toBe(`containerIp: ${BRIDGE_IP} is highway's own listener on the bridge`)
    // Without a bridge IP to compare with (another host's reader), only the address ranges apply.
    expect(checkRecord(key, JSON.stringify(makeRecord({ports: [{address: BRIDGE_IP, containerPort: '80/tcp', port}]}))).ok).toBe(true)
  })

  it('checks every port, not only the first', () => {
    const ports = [record.ports[0], {address: '127.0.0.1', containerPort: '443/tcp', port: 8443}]
    expect(reason(makeRecord({ports}))).toBe('ports[1].address: 127.0.0.1 is a loopback address')
  })

  it.each([
    ['name', `/highway/v2/hosts/hosta/services/api/${IDS.web1}`, 'name "web" does not match the key ("api")'],
    ['hostId', `/highway/v2/hosts/hostb/services/web/${IDS.web1}`, 'hostId "hosta" does not match the key ("hostb")'],
    ['containerId', `/highway/v2/hosts/hosta/services/web/${IDS.web2}`, `containerId "${IDS.web1.slice(0, 29)}`],
  ])('refuses a record whose %s disagrees with its key', (_field, under, expected) => {
    expect(reason(record, under)).toContain(expected)
  })

  it('refuses a value under a key that is not a service key, saying so', () => {
    expect(reason(record, '/highway/v2/hosts/hosta/services/web')).toBe('the key is not /highway/v2/hosts/<hostId>/services/<name>/<containerId>')
  })

  it('refuses garbage with a short, escaped excerpt of it', () => {
    const check = checkRecord(key, `{"name": "web\n${'x'.repeat(500)}`)
    expect(check).toEqual({ok: false, reason: `not JSON ("{\\"name\\": \\"web\\n${'x'.repeat(21)}...)`})
  })

  it.each(['null', '42', '"web"', '[]', 'true'])('refuses the JSON value %s as not an object', (value) => {
    expect(checkRecord(key, value)).toMatchObject({ok: false, reason: expect.stringMatching(/^not a JSON object/)})
  })
})

describe('backendProblem', () => {
  it('accepts ordinary addresses, and the bridge IP on other ports or with no bridge IP known', () => {
    for (const address of ['10.0.0.12', '172.17.0.5', '192.168.1.9', '8.8.8.8', '223.255.255.254', '126.255.255.255', '169.253.0.1']) {
      expect(backendProblem(address, 8080, {bridgeIp: BRIDGE_IP})).toBeNull()
    }
    expect(backendProblem(BRIDGE_IP, 49_153, {bridgeIp: BRIDGE_IP})).toBeNull()
    expect(backendProblem(BRIDGE_IP, 80)).toBeNull()
  })
})

describe('records of other hosts, where every host uses the same bridge subnet', () => {
  const remote = makeRecord({ports: [{address: BRIDGE_IP, containerPort: '80/tcp', port: 32_768}]})

  it("refuses another host's record pointing at this host's bridge IP: it would name a port here", () => {
    expect(checkRecord(key, JSON.stringify(remote), {bridgeIp: BRIDGE_IP, localHostId: 'hostb'})).toEqual({
      ok: false,
      reason: `ports[0].address: ${BRIDGE_IP} is this host's bridge, not host ${remote.hostName}'s (that host needs \`highway up --advertise-ip\`)`,
    })
  })

  it("accepts this host's own record there, and another host's on its advertise address", () => {
    expect(checkRecord(key, JSON.stringify(remote), {bridgeIp: BRIDGE_IP, localHostId: 'hosta'}).ok).toBe(true)
    const advertised = makeRecord({ports: [{address: '10.0.0.5', containerPort: '80/tcp', port: 32_768}]})
    expect(checkRecord(key, JSON.stringify(advertised), {bridgeIp: BRIDGE_IP, localHostId: 'hostb'}).ok).toBe(true)
  })

  it("refuses highway's own listeners on this host's advertise address", () => {
    for (const port of [80, 53, 2379]) {
      expect(backendProblem('10.0.0.5', port, {advertiseIp: '10.0.0.5'})).toBe(`10.0.0.5:${port} is highway's own listener on the advertise address`)
    }
    expect(backendProblem('10.0.0.5', 32_768, {advertiseIp: '10.0.0.5'})).toBeNull()
  })
})

describe('parseAgentReport', () => {
  const report: AgentReport = {
    dockerConnected: true,
    etcdConnected: true,
    hostId: 'hosta',
    hostName: 'host-a',
    lastReconcileAt: '2026-11-27T09:20:00.000Z',
    proxyConfigHash: '0123456789abcdef',
    routes: 3,
    schema: 1,
    startedAt: '2026-11-27T09:00:00.000Z',
  }

  it('parses a schema 1 report', () => {
    expect(parseAgentReport(JSON.stringify(report))).toEqual(report)
  })

  it.each(['', '{', 'null', '7', JSON.stringify({...report, schema: 2}), JSON.stringify({...report, schema: '1'})])('rejects %j', (value) => {
    expect(parseAgentReport(value)).toBeNull()
  })

  it('accepts a report that has not reconciled yet nor rendered a config', () => {
    const fresh = {...report, lastReconcileAt: null, proxyConfigHash: null, routes: 0}
    expect(parseAgentReport(JSON.stringify(fresh), agentKey('hosta'))).toEqual(fresh)
  })

  it.each([
    ['hostId', 'a/b', 'hostId "a/b" is not a host id'],
    ['hostId', undefined, 'hostId undefined is not a host id'],
    ['hostName', 'x\ny', 'hostName "x\\ny" is not a host name'],
    ['startedAt', 'soon', 'startedAt "soon" is not a timestamp'],
    ['lastReconcileAt', 17, 'lastReconcileAt 17 is not a timestamp'],
    ['dockerConnected', 'yes', 'dockerConnected "yes" is not a boolean'],
    ['etcdConnected', undefined, 'etcdConnected undefined is not a boolean'],
    ['routes', -1, 'routes -1 is not a count'],
    ['routes', 1.5, 'routes 1.5 is not a count'],
    ['proxyConfigHash', 'not hex', 'proxyConfigHash "not hex" is not a hash'],
  ])('rejects a report whose %s is %j', (field, value, expected) => {
    const bad: Record<string, unknown> = {...report, [field]: value}
    if (value === undefined) delete bad[field]
    expect(agentReportProblem(JSON.stringify(bad))).toBe(expected)
    expect(parseAgentReport(JSON.stringify(bad))).toBeNull()
  })

  it('rejects a report stored under another host’s key (it would stand in for that host in `status`)', () => {
    expect(agentReportProblem(JSON.stringify(report), agentKey('hostb'))).toBe('hostId "hosta" does not match the key')
    expect(parseAgentReport(JSON.stringify(report), agentKey('hosta'))).toEqual(report)
  })
})

describe('parseProbe', () => {
  const probe = {address: '10.0.0.9', id: '00112233445566ff', port: 49_152}

  it('parses a probe on a unicast address and a port of the dynamic range', () => {
    expect(parseProbe('joiner', JSON.stringify(probe))).toEqual({...probe, hostId: 'joiner'})
    expect(parseProbe('joiner', JSON.stringify({...probe, port: 65_535}))?.port).toBe(65_535)
  })

  // What an admitted host could make every agent dial: loopback, broadcast, a well-known or a registered port.
  it.each([
    {address: '127.0.0.1'},
    {address: '0.0.0.0'},
    {address: '224.0.0.1'},
    {address: '255.255.255.255'},
    {address: 'etcd'},
    {port: 22},
    {port: 2379},
    {port: 49_151},
    {port: 65_536},
    {port: 50_000.5},
    {id: 'short'},
  ])('rejects %j', (change) => {
    expect(parseProbe('joiner', JSON.stringify({...probe, ...change}))).toBeNull()
  })
})
