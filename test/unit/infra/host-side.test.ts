import {describe, expect, it} from 'vitest'
import {SPEC, type Component} from '../../../src/core/labels.js'
import {hostSideIp} from '../../../src/core/settings.js'
import type {Settings} from '../../../src/core/types.js'
import {HOST_DNS_CONTAINER_PORT} from '../../../src/dns/dnsmasq.js'
import {componentSpecs, type ComponentSpec} from '../../../src/infra/components.js'
import {validateRequest} from '../../../src/infra/up.js'
import {DEFAULT_SETTINGS} from '../../../src/core/types.js'
import {userError} from '../support/user-error.js'

const SETTINGS: Settings = {
  baseImage: 'debian:trixie-slim',
  bridgeIp: '172.17.0.1',
  domain: 'local',
  etcdEndpoints: [],
  hostId: '0123456789abcdef',
  upstreamDns: [],
}
const TLS = {agent: {ca: 'CA', cert: 'CERT', key: 'KEY'}, etcd: {ca: 'CA', cert: 'CERT', key: 'KEY'}}

function spec(component: Component, settings: Partial<Settings> = {}): ComponentSpec {
  const specs = componentSpecs({dockerSocket: '/var/run/docker.sock', image: 'highway/infra:test', settings: {...SETTINGS, ...settings}, tls: TLS})
  return specs.find((candidate) => candidate.component === component)!
}

describe('the host-side address (Settings.hostIp)', () => {
  it('unset or empty changes no component: the same specs, so an existing highway is not recreated', () => {
    for (const component of ['etcd', 'proxy', 'dns', 'agent'] as const) {
      expect(spec(component, {hostIp: ''}).create).toEqual(spec(component).create)
    }
    // The DNS command as it was written before host-side addresses existed (its spec hash depends on it).
    expect(spec('dns').create.Cmd?.[2]).toBe(
      `grep -v '^nameserver[[:space:]]*172\\.17\\.0\\.1[[:space:]]*$' /etc/resolv.conf > /tmp/highway-upstream.conf; exec "$@"`,
    )
  })

  it('publishes the proxy on it too, to the same container port', () => {
    expect(spec('proxy', {hostIp: '127.0.0.1'}).create.HostConfig?.PortBindings).toEqual({
      '80/tcp': [
        {HostIp: '172.17.0.1', HostPort: '80'},
        {HostIp: '127.0.0.1', HostPort: '80'},
      ],
    })
  })

  it("publishes the DNS on it to the host instance's port, which answers the host-side address; containers keep the bridge's", () => {
    const dns = spec('dns', {hostIp: '127.0.0.1'})
    expect(dns.create.HostConfig?.PortBindings).toEqual({
      '53/tcp': [{HostIp: '172.17.0.1', HostPort: '53'}],
      '53/udp': [{HostIp: '172.17.0.1', HostPort: '53'}],
      [`${HOST_DNS_CONTAINER_PORT}/tcp`]: [{HostIp: '127.0.0.1', HostPort: '53'}],
      [`${HOST_DNS_CONTAINER_PORT}/udp`]: [{HostIp: '127.0.0.1', HostPort: '53'}],
    })
    const script = dns.create.Cmd?.[2] ?? ''
    expect(script).toContain(`'--port=${HOST_DNS_CONTAINER_PORT}'`)
    expect(script).toContain(`'--address=/local/127.0.0.1'`)
    // The containers' instance, exec'd last so it is the container's main process, answers the bridge.
    expect(dns.create.Cmd?.slice(3)).toContain('--address=/local/172.17.0.1')
    expect(dns.create.Cmd?.slice(3)).toContain('--port=53')
    expect(dns.create.Labels?.[SPEC]).not.toBe(spec('dns').create.Labels?.[SPEC])
  })

  it('is what the host dials when set, else the bridge', () => {
    expect(hostSideIp({bridgeIp: '172.17.0.1', hostIp: '127.0.0.1'})).toBe('127.0.0.1')
    expect(hostSideIp({bridgeIp: '172.17.0.1', hostIp: ''})).toBe('172.17.0.1')
    expect(hostSideIp({bridgeIp: '172.17.0.1'})).toBe('172.17.0.1')
  })

  it('`up --host-ip` takes an IPv4 address, or empty for none, and refuses anything else before touching Docker', () => {
    expect(validateRequest({hostIp: '127.0.0.1'}, DEFAULT_SETTINGS).hostIp).toBe('127.0.0.1')
    expect(validateRequest({hostIp: ''}, DEFAULT_SETTINGS).hostIp).toBe('')
    expect(validateRequest({}, DEFAULT_SETTINGS).hostIp).toBeUndefined()
    expect(() => validateRequest({hostIp: 'localhost'}, DEFAULT_SETTINGS)).toThrow(/--host-ip/)
  })
})

describe('validateRequest: --tcp-range', () => {
  it('keeps the saved range, takes a new one, and turns TCP by name off with none', () => {
    expect(validateRequest({}, DEFAULT_SETTINGS).tcpRange).toBe('198.19.0.0/16')
    expect(validateRequest({}, {...DEFAULT_SETTINGS, tcpRange: '10.77.0.0/24'}).tcpRange).toBe('10.77.0.0/24')
    expect(validateRequest({tcpRange: '10.88.0.0/20'}, DEFAULT_SETTINGS).tcpRange).toBe('10.88.0.0/20')
    expect(validateRequest({tcpRange: 'none'}, DEFAULT_SETTINGS).tcpRange).toBe('')
  })

  it('refuses a malformed range, and one holding an address of this host’s, in one line', () => {
    expect(userError(() => validateRequest({tcpRange: '10.0.0.0/8'}, DEFAULT_SETTINGS)).message).toMatch(/^invalid TCP address range "10.0.0.0\/8"/)
    const taken = userError(() => validateRequest({advertiseIp: '10.1.2.3', tcpRange: '10.1.0.0/16'}, DEFAULT_SETTINGS))
    expect(taken.message).toBe('--tcp-range 10.1.0.0/16 holds --advertise-ip 10.1.2.3: highway would take that address over on this host')
  })
})
