import {describe, expect, it} from 'vitest'
import {userError} from '../support/user-error.js'
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {UPSTREAM_FILE, dnsCommand, dnsmasqArgs} from '../../../src/dns/dnsmasq.js'

describe('dnsmasqArgs', () => {
  it('answers the domain with the bridge IP and reads the filtered resolv.conf without upstreams', () => {
    expect(dnsmasqArgs({bridgeIp: '172.17.0.1', domain: 'local', upstreams: []})).toEqual([
      'dnsmasq',
      '--keep-in-foreground',
      '--log-facility=-',
      '--user=root',
      '--port=53',
      '--local-service',
      '--no-hosts',
      '--domain-needed',
      '--cache-size=1000',
      '--address=/local/172.17.0.1',
      '--local=/local/',
      '--dns-loop-detect',
      `--resolv-file=${UPSTREAM_FILE}`,
    ])
  })

  it('reads the names’ own addresses from a hosts directory when given one, right after the domain-wide answer', () => {
    const args = dnsmasqArgs({bridgeIp: '172.17.0.1', domain: 'local', hostsDir: '/run/highway/hosts', upstreams: []})
    expect(args.slice(args.indexOf('--address=/local/172.17.0.1'), args.indexOf('--local=/local/'))).toEqual([
      '--address=/local/172.17.0.1',
      '--hostsdir=/run/highway/hosts',
    ])
  })

  it('gives the host-side instance no hosts directory: a host that cannot reach the bridge cannot reach the range either', () => {
    const script = dnsCommand({bridgeIp: '172.17.0.1', domain: 'local', hostIp: '127.0.0.1', hostsDir: '/run/highway/hosts', upstreams: []})[2]
    const hostInstance = script.slice(script.indexOf("'dnsmasq'"), script.indexOf(' & '))
    expect(hostInstance).toContain("'--address=/local/127.0.0.1'")
    expect(hostInstance).not.toContain('hostsdir')
  })

  it('with upstream servers, stops reading resolv.conf and forwards to each, in order', () => {
    const args = dnsmasqArgs({bridgeIp: '172.18.0.1', domain: 'test', upstreams: ['9.9.9.9', '1.1.1.1']})
    expect(args.slice(-6)).toEqual(['--address=/test/172.18.0.1', '--local=/test/', '--dns-loop-detect', '--no-resolv', '--server=9.9.9.9', '--server=1.1.1.1'])
    expect(args.some((arg) => arg.startsWith('--resolv-file'))).toBe(false)
    expect(args.filter((arg) => arg === '--no-resolv')).toHaveLength(1)
  })

  it('never adds --no-resolv or --server without upstreams', () => {
    const args = dnsmasqArgs({bridgeIp: '172.17.0.1', domain: 'local', upstreams: []})
    expect(args.filter((arg) => arg === '--no-resolv' || arg.startsWith('--server'))).toEqual([])
  })

  it('always refuses queries from outside the local subnet', () => {
    for (const upstreams of [[], ['8.8.8.8']]) {
      expect(dnsmasqArgs({bridgeIp: '172.17.0.1', domain: 'local', upstreams})).toContain('--local-service')
    }
  })

  it('never listens on 0.0.0.0 nor names an interface or listen address', () => {
    const args = dnsmasqArgs({bridgeIp: '172.17.0.1', domain: 'local', upstreams: ['8.8.8.8']})
    expect(args.filter((arg) => arg.includes('0.0.0.0'))).toEqual([])
    expect(args.filter((arg) => /^--(listen-address|interface|except-interface|bind-)/.test(arg))).toEqual([])
  })

  it('accepts a multi-label domain and strips leading and trailing dots', () => {
    expect(dnsmasqArgs({bridgeIp: '10.0.0.1', domain: 'dev.example.test', upstreams: []})).toContain('--address=/dev.example.test/10.0.0.1')
    expect(dnsmasqArgs({bridgeIp: '10.0.0.1', domain: '.local.', upstreams: []})).toContain('--address=/local/10.0.0.1')
  })

  it('rejects 0.0.0.0 as the bridge IP', () => {
    expect(userError(() => dnsmasqArgs({bridgeIp: '0.0.0.0', domain: 'local', upstreams: []})).message).toBe(
      'bridge IP cannot be 0.0.0.0: highway never listens on every interface; give the docker bridge address',
    )
  })

  it.each(['', '172.17.0.1/16', '::1', 'localhost', '172.17.0.1 ', '172.17.0.1\n--server=6.6.6.6', '300.1.1.1'])('rejects the bridge IP %j', (bridgeIp) => {
    expect(userError(() => dnsmasqArgs({bridgeIp, domain: 'local', upstreams: []})).message).toBe(
      `invalid bridge IP "${bridgeIp}": expected an IPv4 address such as 172.17.0.1`,
    )
  })

  it.each(['8.8.8.8#5353', '2001:4860:4860::8888', 'dns.google', ''])('rejects the upstream %j', (server) => {
    expect(userError(() => dnsmasqArgs({bridgeIp: '172.17.0.1', domain: 'local', upstreams: ['1.1.1.1', server]})).message).toBe(
      `invalid upstream DNS server "${server}": expected an IPv4 address such as 172.17.0.1`,
    )
  })

  it('rejects 0.0.0.0 as an upstream', () => {
    expect(userError(() => dnsmasqArgs({bridgeIp: '172.17.0.1', domain: 'local', upstreams: ['0.0.0.0']})).message).toBe(
      'upstream DNS server cannot be 0.0.0.0: highway never listens on every interface; give the docker bridge address',
    )
  })

  it.each(['', '.', 'Local', 'lo_cal', 'local/evil', 'a..b', 'local\n--server=6.6.6.6', '-local', 'local-', 'local test'])(
    'rejects the domain %j',
    (domain) => {
      expect(userError(() => dnsmasqArgs({bridgeIp: '172.17.0.1', domain, upstreams: []})).message).toBe(
        `invalid domain "${domain}": use DNS labels separated by dots, lowercase letters, digits and hyphens (for example "local" or "test")`,
      )
    },
  )
})

describe('dnsCommand', () => {
  it('passes explicit upstreams straight to dnsmasq', () => {
    const input = {bridgeIp: '172.17.0.1', domain: 'local', upstreams: ['192.0.2.53']}
    expect(dnsCommand(input)).toEqual(dnsmasqArgs(input))
  })

  it("filters highway's own address out of the inherited resolv.conf, so dnsmasq never forwards to itself", () => {
    const dir = mkdtempSync(join(tmpdir(), 'highway-dns-'))
    const resolv = join(dir, 'resolv.conf')
    const upstream = join(dir, 'upstream.conf')
    writeFileSync(resolv, 'nameserver 172.17.0.1 \nnameserver 172.17.0.10\nnameserver 10.255.255.53\nsearch example\n')
    const [sh, flag, script, name, ...args] = dnsCommand({bridgeIp: '172.17.0.1', domain: 'local', upstreams: []})
    expect(args).toContain(`--resolv-file=${UPSTREAM_FILE}`)
    expect(args).toContain('--dns-loop-detect')
    // Run the real script against scratch files, with `cat` standing in for dnsmasq.
    const local = script.replaceAll('/etc/resolv.conf', resolv).replaceAll(UPSTREAM_FILE, upstream)
    const output = execFileSync(sh, [flag, local, name, 'cat', upstream], {encoding: 'utf8'})
    expect(output).toBe('nameserver 172.17.0.10\nnameserver 10.255.255.53\nsearch example\n')
    expect(readFileSync(upstream, 'utf8')).toBe(output)
  })
})
