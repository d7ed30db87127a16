import {describe, expect, it} from 'vitest'
import type {AgentReport} from '../../../src/core/types.js'
import {
  HOSTS,
  HOST_ID,
  ROOT,
  agentKey,
  hostPrefix,
  parseAgentKey,
  parseAgentReport,
  parseRecord,
  parseServiceKey,
  serviceKey,
} from '../../../src/registry/schema.js'
import {IDS, makeRecord} from '../support/highway-fixtures.js'

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

  it.each([2, 0, '1', null])('rejects schema %j', (schema) => {
    expect(parseRecord(key, JSON.stringify({...record, schema}))).toBeNull()
  })

  it('rejects a record without a schema', () => {
    const {schema: _schema, ...rest} = record
    expect(parseRecord(key, JSON.stringify(rest))).toBeNull()
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
})
