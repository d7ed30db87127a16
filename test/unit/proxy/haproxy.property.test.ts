import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import type {ServiceRecord} from '../../../src/core/types.js'
import {renderProxyConfig} from '../../../src/proxy/haproxy.js'
import {assertRenderedShape, domain, hostileRecord, renderInput, sections, validRecord} from '../support/arbitraries.js'
import {BRIDGE_IP, IDS, makeRecord} from '../support/highway-fixtures.js'

/**
 * The renderer is the last line before HAProxy: whatever records reach it (the registry checks
 * them, but a bug or another writer may not), it must neither throw nor render a server the proxy
 * must never connect to, and from valid records it must always render a config of the right shape.
 */
describe('renderProxyConfig, property-based', () => {
  it('never throws on records with any JSON value in any field, nor on any value at all', () => {
    fc.assert(
      fc.property(domain, fc.array(hostileRecord, {maxLength: 8}), fc.array(validRecord, {maxLength: 4}), (name, hostile, valid) => {
        const records = [...hostile, ...valid] as ServiceRecord[]
        const rendered = renderProxyConfig({bridgeIp: BRIDGE_IP, domain: name, localHostId: 'hosta', records})
        expect(rendered.config.split('\n').every((line) => /^[\x20-\x7e]*$/.test(line))).toBe(true)
      }),
      {numRuns: 500},
    )
  })

  it('throws only its own refusal for a domain that is not one', () => {
    fc.assert(
      fc.property(fc.string({unit: 'binary'}), (candidate) => {
        try {
          renderProxyConfig({domain: candidate, records: [makeRecord()]})
        } catch (error) {
          expect((error as Error).message).toMatch(/^refusing to render a proxy config for invalid domain /)
        }
      }),
      {numRuns: 300},
    )
  })

  it('renders a config of the right shape from any valid records', () => {
    fc.assert(
      fc.property(renderInput, (input) => assertRenderedShape(input, renderProxyConfig(input))),
      {numRuns: 500},
    )
    // 500 renders take ~3 s alone, more beside the end-to-end suite on 2 cores: the limit only catches a hang.
  }, 30_000)

  it('renders the same config whatever order the records arrive in', () => {
    fc.assert(
      fc.property(
        renderInput.chain((input) =>
          fc.tuple(fc.constant(input), fc.shuffledSubarray(input.records, {maxLength: input.records.length, minLength: input.records.length})),
        ),
        ([input, shuffled]) => {
          expect(renderProxyConfig({...input, records: shuffled}).config).toBe(renderProxyConfig(input).config)
        },
      ),
      {numRuns: 300},
    )
  })
})

describe('renderProxyConfig drops servers the proxy must never connect to, whatever wrote them', () => {
  const at = (address: string, port: number, overrides: Partial<ServiceRecord> = {}) =>
    makeRecord({containerIp: '', ports: [{address, containerPort: '80/tcp', port}], ...overrides})
  const serverLines = (records: ServiceRecord[], localHostId?: string) =>
    renderProxyConfig({bridgeIp: BRIDGE_IP, domain: 'local', localHostId, records})
      .config.split('\n')
      .filter((line) => line.startsWith('    server '))

  it.each([
    ['0.0.0.0', 8080],
    ['127.0.0.1', 8080],
    ['127.8.9.10', 80],
    ['169.254.169.254', 80],
    ['224.0.0.251', 5353],
    ['255.255.255.255', 80],
    [BRIDGE_IP, 80],
    [BRIDGE_IP, 53],
    [BRIDGE_IP, 2379],
  ])('%s:%i', (address, port) => {
    const {config} = renderProxyConfig({bridgeIp: BRIDGE_IP, domain: 'local', records: [at(address, port)]})
    // The name stays routed to highway's 503 page: the record is there, its backend is not usable.
    expect(sections(config).get('backend route0')).toEqual([])
    expect(sections(config).get('defaults routes')).toEqual(
      expect.arrayContaining([expect.stringContaining('return status 503'), expect.stringContaining('http-error status 503')]),
    )
    expect(config).not.toContain(`${address}:${port}`)
  })

  it('also when the address is the container’s own, reached directly on this host', () => {
    expect(serverLines([makeRecord({containerIp: '127.0.0.1'})], 'hosta')).toEqual([])
    expect(serverLines([makeRecord({containerIp: '172.17.0.5'})], 'hosta')).toEqual([expect.stringContaining(' 172.17.0.5:80 ')])
  })

  it('keeps the bridge IP on a service’s own published port, and without a bridge IP only the address ranges apply', () => {
    expect(serverLines([at(BRIDGE_IP, 49_153)])).toEqual([expect.stringContaining(` ${BRIDGE_IP}:49153 `)])
    const {config} = renderProxyConfig({domain: 'local', records: [at(BRIDGE_IP, 80), at('127.0.0.1', 80, {containerId: IDS.web2})]})
    expect(config).toContain(` ${BRIDGE_IP}:80 `)
    expect(config).not.toContain('127.0.0.1')
  })

  it('declares a server id once per backend, keeping the same one whatever the order', () => {
    const first = at('10.0.0.1', 8080, {containerId: IDS.web1, hostId: 'hosta'})
    const twin = at('10.0.0.2', 8080, {containerId: IDS.web1, hostId: 'hostb'})
    expect(serverLines([first, twin])).toEqual([expect.stringContaining(' 10.0.0.1:8080 ')])
    expect(serverLines([twin, first])).toEqual([expect.stringContaining(' 10.0.0.1:8080 ')])
  })

  it('skips a record without ports, or with a port that is not an object, and renders the rest', () => {
    const {ports: _ports, ...noPorts} = makeRecord({containerId: IDS.api, name: 'api'})
    const records = [noPorts, {...makeRecord({containerId: IDS.db, name: 'db'}), ports: [null]}, makeRecord()] as unknown as ServiceRecord[]
    const rendered = renderProxyConfig({bridgeIp: BRIDGE_IP, domain: 'local', records})
    expect(rendered.map).toBe('web.local route0\n')
    expect(rendered.servers).toEqual([`route0/c${IDS.web1.slice(0, 12)}`])
  })
})

describe('renderProxyConfig on a host with an advertise address', () => {
  it("drops a server on highway's own ports there, keeps a service's published port", () => {
    const record = (port: number, containerId: string) =>
      makeRecord({containerId, containerIp: '', ports: [{address: '10.0.0.7', containerPort: '80/tcp', port}], replica: true})
    const {config} = renderProxyConfig({advertiseIp: '10.0.0.7', domain: 'local', records: [record(2379, IDS.web1), record(40_000, IDS.web2)]})
    expect(config).not.toContain('10.0.0.7:2379')
    expect(config).toContain('10.0.0.7:40000')
  })
})
