import {describe, expect, it} from 'vitest'
import type {AgentReport} from '../../../src/core/types.js'
import {AGENTS, ROOT, SERVICES, agentKey, parseAgentReport, parseRecord, parseServiceKey, serviceKey} from '../../../src/registry/schema.js'
import {IDS, makeRecord} from '../support/highway-fixtures.js'

const record = makeRecord()
const key = `/highway/v1/services/web/hosta/${IDS.web1}`

describe('keys', () => {
  it('lays records out under /highway/v1/services/<name>/<hostId>/<containerId>', () => {
    expect(ROOT).toBe('/highway/v1/')
    expect(SERVICES).toBe('/highway/v1/services/')
    expect(AGENTS).toBe('/highway/v1/agents/')
    expect(serviceKey(record)).toBe(key)
    expect(agentKey('hosta')).toBe('/highway/v1/agents/hosta')
  })

  it('round-trips a key', () => {
    expect(parseServiceKey(serviceKey(record))).toEqual({containerId: IDS.web1, hostId: 'hosta', name: 'web'})
    const parsed = parseServiceKey(serviceKey({containerId: 'abc', hostId: 'h1', name: 'a-b'}))
    expect(parsed).toEqual({containerId: 'abc', hostId: 'h1', name: 'a-b'})
    expect(serviceKey(parsed!)).toBe('/highway/v1/services/a-b/h1/abc')
  })

  it.each([
    ['another prefix', `/highway/v2/services/web/hosta/${IDS.web1}`],
    ['an agent key', '/highway/v1/agents/hosta'],
    ['two parts', '/highway/v1/services/web/hosta'],
    ['four parts', `/highway/v1/services/web/hosta/${IDS.web1}/extra`],
    ['a trailing slash', `/highway/v1/services/web/hosta/${IDS.web1}/`],
    ['an empty host', `/highway/v1/services/web//${IDS.web1}`],
    ['an empty name', `/highway/v1/services//hosta/${IDS.web1}`],
    ['the bare prefix', '/highway/v1/services/'],
    ['no leading slash', `highway/v1/services/web/hosta/${IDS.web1}`],
  ])('refuses a key with %s', (_what, candidate) => {
    expect(parseServiceKey(candidate)).toBeNull()
  })
})

describe('parseRecord', () => {
  it('parses the JSON stored under its own key', () => {
    expect(parseRecord(key, JSON.stringify(record))).toEqual(record)
  })

  it('rejects a record whose name differs from the key’s', () => {
    expect(parseRecord(`/highway/v1/services/api/hosta/${IDS.web1}`, JSON.stringify(record))).toBeNull()
  })

  it('rejects a record whose container id differs from the key’s', () => {
    expect(parseRecord(`/highway/v1/services/web/hosta/${IDS.web2}`, JSON.stringify(record))).toBeNull()
  })

  it('rejects a record whose host id differs from the key’s (another host would delete it as its own orphan)', () => {
    expect(parseRecord(`/highway/v1/services/web/hostb/${IDS.web1}`, JSON.stringify(record))).toBeNull()
  })

  it('rejects a value under a key that is not a service key', () => {
    expect(parseRecord('/highway/v1/agents/hosta', JSON.stringify(record))).toBeNull()
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
