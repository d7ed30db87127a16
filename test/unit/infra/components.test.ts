import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {basename, join} from 'node:path'
import {createHash} from 'node:crypto'
import {describe, expect, it} from 'vitest'
import {UserError} from '../../../src/core/errors.js'
import type {Component} from '../../../src/core/labels.js'
import type {Settings} from '../../../src/core/types.js'
import {dnsCommand} from '../../../src/dns/dnsmasq.js'
import {LOOPBACK_ETCD_URL, etcdEndpoints} from '../../../src/core/settings.js'
import {ETCD_QUOTA_BYTES, ETCD_START_SCRIPT, ETCD_TLS_DIR, componentSpecs, type ComponentSpec, type SpecContext} from '../../../src/infra/components.js'
import {renderProxyConfig} from '../../../src/proxy/haproxy.js'

const SETTINGS: Settings = {
  baseImage: 'debian:trixie-slim',
  bridgeIp: '172.17.0.1',
  domain: 'local',
  etcdEndpoints: [],
  upstreamDns: [],
  hostId: '0123456789abcdef',
}
// Stand-ins: the specs only carry the PEM text (test/unit/registry/certificates.test.ts makes real ones).
const TLS: SpecContext['tls'] = {
  agent: {ca: 'CA PEM', cert: 'HOST CERT PEM', key: 'HOST KEY PEM'},
  etcd: {ca: 'CA PEM', cert: 'ETCD CERT PEM', key: 'ETCD KEY PEM'},
}
const CONTEXT: SpecContext = {dockerSocket: '/var/run/docker.sock', image: 'highway/infra:0.1.0-0123456789', settings: SETTINGS, tls: TLS}

function specs(overrides: {settings?: Partial<Settings>; image?: string; dockerSocket?: string; tls?: SpecContext['tls']} = {}): Map<Component, ComponentSpec> {
  const context: SpecContext = {...CONTEXT, ...overrides, settings: {...SETTINGS, ...overrides.settings}}
  return new Map(componentSpecs(context).map((spec) => [spec.component, spec]))
}

function spec(component: Component, map = specs()): ComponentSpec {
  const found = map.get(component)
  if (!found) throw new Error(`no ${component} spec`)
  return found
}

const specLabel = (item: ComponentSpec) => item.create.Labels?.['io.highway.spec']
const specLabels = (map: Map<Component, ComponentSpec>) => Object.fromEntries([...map].map(([component, item]) => [component, specLabel(item)]))

describe('componentSpecs', () => {
  it('starts etcd, proxy, dns and agent, in that order, named highway-<component>', () => {
    const list = componentSpecs(CONTEXT)
    expect(list.map((item) => item.component)).toEqual(['etcd', 'proxy', 'dns', 'agent'])
    expect(list.map((item) => item.name)).toEqual(['highway-etcd', 'highway-proxy', 'highway-dns', 'highway-agent'])
    expect(list.map((item) => item.create.name)).toEqual(['highway-etcd', 'highway-proxy', 'highway-dns', 'highway-agent'])
    expect(list.map((item) => item.create.Image)).toEqual(Array(4).fill('highway/infra:0.1.0-0123456789'))
    expect(list.map((item) => item.network)).toEqual(['highway-registry', null, null, 'highway-registry'])
    expect(list.map((item) => item.create.HostConfig?.NetworkMode)).toEqual(['highway-registry', 'bridge', 'bridge', 'highway-registry'])
  })

  it('binds the proxy and DNS on the bridge IP only and etcd on loopback only, never on 0.0.0.0 or every address', () => {
    for (const bridgeIp of ['172.17.0.1', '10.10.0.1']) {
      for (const item of componentSpecs({...CONTEXT, settings: {...SETTINGS, bridgeIp}})) {
        const bindings = Object.values(item.create.HostConfig?.PortBindings ?? {}).flat() as Array<{HostIp: string; HostPort: string}>
        expect(bindings.length, item.component).toBe(item.ports.length)
        for (const binding of bindings) expect(binding.HostIp, item.component).toBe(item.component === 'etcd' ? '127.0.0.1' : bridgeIp)
      }
    }
  })

  it('publishes etcd on the advertise address too when other hosts need it, and nowhere else', () => {
    const etcd = spec('etcd', specs({settings: {advertiseIp: '10.1.0.1'}}))
    expect(etcd.create.HostConfig?.PortBindings).toEqual({
      '2379/tcp': [
        {HostIp: '127.0.0.1', HostPort: '2379'},
        {HostIp: '10.1.0.1', HostPort: '2379'},
      ],
      // Where other members dial this one.
      '2380/tcp': [{HostIp: '10.1.0.1', HostPort: '2380'}],
    })
    expect(etcd.create.Cmd).toEqual(
      expect.arrayContaining([
        '--listen-peer-urls=https://0.0.0.0:2380',
        '--initial-advertise-peer-urls=https://10.1.0.1:2380',
        '--initial-cluster=highway=https://10.1.0.1:2380',
        '--peer-client-cert-auth',
      ]),
    )
    expect(etcd.create.Cmd).not.toContain('--initial-cluster-state=existing')
    // etcd's own raft timers between hosts; the short ones only where etcd is alone on its host.
    expect(etcd.create.Cmd).toEqual(expect.arrayContaining(['--heartbeat-interval=100', '--election-timeout=1000']))
    // Clients ping every second to find a member cut off; etcd would answer that with GOAWAY below its 5 s default.
    expect(etcd.create.Cmd).toContain('--grpc-keepalive-min-time=1s')
    // The agent's lease leaves room for this member to be a leader that dies with the host.
    expect(spec('agent', specs({settings: {advertiseIp: '10.1.0.1'}})).create.Env).toContain('HIGHWAY_ETCD_ELECTION_MS=1000')
    expect(spec('etcd', specs()).create.Cmd).toEqual(expect.arrayContaining(['--heartbeat-interval=100', '--election-timeout=500', '--snapshot-count=20']))
    expect(etcd.create.Cmd).toContain('--advertise-client-urls=https://10.1.0.1:2379')
    // The agent records services at that address, so other hosts need no route to this host's bridge.
    expect(spec('agent', specs({settings: {advertiseIp: '10.1.0.1'}})).create.Env).toContain('HIGHWAY_ADVERTISE_IP=10.1.0.1')
    expect(spec('agent', specs()).create.Env?.some((variable) => variable.startsWith('HIGHWAY_ADVERTISE_IP='))).toBe(false)
    // A lease TTL other than the default reaches the agent; the default adds nothing (an unchanged spec on upgrade).
    expect(spec('agent', specs({settings: {leaseTtl: 4}})).create.Env).toContain('HIGHWAY_LEASE_TTL=4')
    expect(spec('agent', specs()).create.Env?.some((variable) => variable.startsWith('HIGHWAY_LEASE_TTL='))).toBe(false)
  })

  it('runs a member that joined under its own name, into the cluster it found, and its agent fails over to the other members', () => {
    const settings = {
      advertiseIp: '10.1.0.2',
      etcdMember: {initialCluster: 'highway=https://10.1.0.1:2380,highway-b=https://10.1.0.2:2380', name: 'highway-b'},
      etcdPeers: ['https://10.1.0.1:2379'],
    }
    const etcd = spec('etcd', specs({settings}))
    expect(etcd.create.Cmd).toEqual(
      expect.arrayContaining([
        '--name=highway-b',
        '--initial-cluster=highway=https://10.1.0.1:2380,highway-b=https://10.1.0.2:2380',
        '--initial-cluster-state=existing',
        '--initial-advertise-peer-urls=https://10.1.0.2:2380',
      ]),
    )
    expect(spec('agent', specs({settings})).create.Env).toContain('HIGHWAY_ETCD=https://highway-etcd:2379,https://10.1.0.1:2379')
  })

  it('publishes etcd on 2379/tcp, the proxy on 80/tcp, dns on 53/udp and 53/tcp, and nothing for the agent', () => {
    const map = specs()
    const ip = '172.17.0.1'
    expect(spec('etcd', map).create.HostConfig?.PortBindings).toEqual({'2379/tcp': [{HostIp: '127.0.0.1', HostPort: '2379'}]})
    expect(spec('proxy', map).create.HostConfig?.PortBindings).toEqual({'80/tcp': [{HostIp: ip, HostPort: '80'}]})
    expect(spec('dns', map).create.HostConfig?.PortBindings).toEqual({
      '53/tcp': [{HostIp: ip, HostPort: '53'}],
      '53/udp': [{HostIp: ip, HostPort: '53'}],
    })
    expect(spec('agent', map).create.HostConfig?.PortBindings).toEqual({})
    expect(spec('dns', map).ports).toEqual([
      {address: ip, port: 53, protocol: 'udp'},
      {address: ip, port: 53, protocol: 'tcp'},
    ])
    expect(spec('dns', map).create.ExposedPorts).toEqual({'53/tcp': {}, '53/udp': {}})
    expect(spec('agent', map).create.ExposedPorts).toEqual({})
  })

  it.each(['0.0.0.0', '', '::', 'not-an-ip'])('refuses the bridge IP %j rather than publish on it', (bridgeIp) => {
    expect(() => componentSpecs({...CONTEXT, settings: {...SETTINGS, bridgeIp}})).toThrow(UserError)
  })

  it('restarts every component unless stopped and caps its logs', () => {
    for (const item of componentSpecs(CONTEXT)) {
      expect(item.create.HostConfig?.RestartPolicy, item.component).toEqual({Name: 'unless-stopped'})
      expect(item.create.HostConfig?.LogConfig, item.component).toEqual({Config: {'max-file': '2', 'max-size': '10m'}, Type: 'json-file'})
    }
  })

  it('labels every component as managed, with its component and a 16-hex spec hash', () => {
    for (const item of componentSpecs(CONTEXT)) {
      expect(Object.keys(item.create.Labels ?? {}).sort(), item.component).toEqual(['io.highway.component', 'io.highway.managed', 'io.highway.spec'])
      expect(item.create.Labels?.['io.highway.managed']).toBe('true')
      expect(item.create.Labels?.['io.highway.component']).toBe(item.component)
      expect(specLabel(item)).toMatch(/^[0-9a-f]{16}$/)
    }
  })

  it('derives the spec label from the create options it labels (without the name and the label itself)', () => {
    for (const item of componentSpecs(CONTEXT)) {
      const {name: _name, ...create} = item.create
      const {['io.highway.spec']: label, ...labels} = create.Labels ?? {}
      const expected = createHash('sha256')
        .update(JSON.stringify({...create, Labels: labels}))
        .digest('hex')
        .slice(0, 16)
      expect(label, item.component).toBe(expected)
    }
  })

  it('is pure: the same context gives the same specs', () => {
    expect(componentSpecs(CONTEXT)).toEqual(componentSpecs(structuredClone(CONTEXT)))
    expect(new Set(Object.values(specLabels(specs()))).size).toBe(4)
  })

  it('changes the spec label of everything that binds or knows the bridge IP when it changes, and keeps etcd (on loopback) as it is', () => {
    const before = specLabels(specs())
    const after = specLabels(specs({settings: {bridgeIp: '172.18.0.1'}}))
    for (const component of ['proxy', 'dns', 'agent'] as const) expect(after[component], component).not.toBe(before[component])
    expect(after.etcd).toBe(before.etcd)
  })

  it('changes every spec label when the image changes', () => {
    const before = specLabels(specs())
    const after = specLabels(specs({image: 'highway/infra:0.1.0-abcdefabcd'}))
    for (const component of ['etcd', 'proxy', 'dns', 'agent'] as const) expect(after[component], component).not.toBe(before[component])
  })

  it('changes the proxy, dns and agent specs, not etcd, when the domain changes', () => {
    const before = specLabels(specs())
    const after = specLabels(specs({settings: {domain: 'test'}}))
    expect(after.etcd).toBe(before.etcd)
    expect(after.proxy).not.toBe(before.proxy)
    expect(after.dns).not.toBe(before.dns)
    expect(after.agent).not.toBe(before.agent)
  })

  it('changes only the dns spec when the upstream servers change', () => {
    const before = specLabels(specs())
    const after = specLabels(specs({settings: {upstreamDns: ['9.9.9.9']}}))
    expect(after).toEqual({...before, dns: after.dns})
    expect(after.dns).not.toBe(before.dns)
  })

  it('changes only the agent spec when the docker socket path changes', () => {
    const before = specLabels(specs())
    const after = specLabels(specs({dockerSocket: '/run/user/1000/docker.sock'}))
    expect(after).toEqual({...before, agent: after.agent})
    expect(after.agent).not.toBe(before.agent)
  })

  it('does not change any spec when only the base image setting changes (the image tag carries it)', () => {
    expect(specLabels(specs({settings: {baseImage: 'debian:bookworm-slim'}}))).toEqual(specLabels(specs()))
  })

  it('runs etcd with periodic auto-compaction, advertised on loopback, data in its volume', () => {
    const etcd = spec('etcd')
    expect(etcd.create.Cmd).toEqual(expect.arrayContaining(['--auto-compaction-mode=periodic', '--auto-compaction-retention=1h']))
    expect(etcd.create.Cmd).toContain('--advertise-client-urls=https://127.0.0.1:2379')
    expect(etcd.create.Cmd).toContain('--data-dir=/var/lib/etcd/data')
    expect(etcd.create.Cmd?.slice(0, 4)).toEqual(['sh', '-c', ETCD_START_SCRIPT, 'highway-etcd'])
    expect(etcd.create.Cmd?.[etcd.create.Cmd.indexOf('etcd') + 1]).toBe('--name=highway')
    expect(etcd.create.HostConfig?.Binds).toEqual(['highway-etcd-v2:/var/lib/etcd'])
    expect(etcd.volumes).toEqual(['highway-etcd-v2'])
  })

  it('runs etcd with mutual TLS on its client and peer listeners, nothing in plain text', () => {
    const command = spec('etcd').create.Cmd!
    const flags = command.slice(4)
    expect(flags).toEqual(
      expect.arrayContaining([
        '--listen-client-urls=https://0.0.0.0:2379',
        `--cert-file=${ETCD_TLS_DIR}/etcd.crt`,
        `--key-file=${ETCD_TLS_DIR}/etcd.key`,
        `--trusted-ca-file=${ETCD_TLS_DIR}/ca.crt`,
        '--client-cert-auth',
        '--listen-peer-urls=https://127.0.0.1:2380',
        '--initial-advertise-peer-urls=https://127.0.0.1:2380',
        '--initial-cluster=highway=https://127.0.0.1:2380',
        `--peer-cert-file=${ETCD_TLS_DIR}/etcd.crt`,
        `--peer-key-file=${ETCD_TLS_DIR}/etcd.key`,
        `--peer-trusted-ca-file=${ETCD_TLS_DIR}/ca.crt`,
        '--peer-client-cert-auth',
      ]),
    )
    expect(flags.filter((flag) => flag.includes('http://'))).toEqual([])
    expect(spec('etcd').create.Env).toEqual(expect.arrayContaining(['HIGHWAY_TLS_CA=CA PEM', 'HIGHWAY_TLS_CERT=ETCD CERT PEM', 'HIGHWAY_TLS_KEY=ETCD KEY PEM']))
  })

  it('writes etcd’s certificates from its environment to files only its user reads, and runs etcd without them in its environment', () => {
    const [sh, flag, script, name, ...flags] = spec('etcd').create.Cmd as string[]
    // The real script in a scratch directory, with a recorder standing in for etcd.
    const dir = mkdtempSync(join(tmpdir(), 'highway-etcd-'))
    const local = script.replaceAll(ETCD_TLS_DIR, `${dir}/tls`).replace('exec "$@"', `env > ${dir}/env; printf '%s\\n' "$@" > ${dir}/args`)
    execFileSync(sh, [flag, local, name, ...flags], {env: {PATH: process.env.PATH, HIGHWAY_TLS_CA: 'CA PEM', HIGHWAY_TLS_CERT: 'C', HIGHWAY_TLS_KEY: 'K'}})
    expect(readFileSync(join(dir, 'tls', 'ca.crt'), 'utf8')).toBe('CA PEM')
    expect(readFileSync(join(dir, 'tls', 'etcd.crt'), 'utf8')).toBe('C')
    expect(readFileSync(join(dir, 'tls', 'etcd.key'), 'utf8')).toBe('K')
    for (const file of ['ca.crt', 'etcd.crt', 'etcd.key']) expect(statSync(join(dir, 'tls', file)).mode & 0o777, file).toBe(0o600)
    expect(statSync(join(dir, 'tls')).mode & 0o777).toBe(0o700)
    expect(readFileSync(join(dir, 'env'), 'utf8')).not.toContain('HIGHWAY_TLS')
    expect(readFileSync(join(dir, 'args'), 'utf8').trim().split('\n')).toEqual(flags)
  })

  it('runs a lone etcd with 100 ms of timer slack, which every thread of what it starts inherits; a member other hosts share on the kernel’s default', () => {
    const command = spec('etcd').create.Cmd!
    const launcher = command.slice(4, command.indexOf('etcd'))
    expect(launcher[0]).toBe('perl')
    // The launcher itself, on this machine's perl: what it starts reads its own slack, in ns. Only
    // Linux has the call and the file (etcd's container is Linux wherever the CLI runs).
    if (process.platform === 'linux') {
      const slack = execFileSync(launcher[0], [...launcher.slice(1), 'cat', '/proc/self/timerslack_ns'], {encoding: 'utf8'})
      expect(Number(slack)).toBe(['x64', 'arm64'].includes(process.arch) ? 100_000_000 : 50_000)
    }
    const shared = spec('etcd', specs({settings: {advertiseIp: '10.1.0.1'}})).create.Cmd!
    expect(shared.slice(3, shared.indexOf('etcd'))).toEqual(['highway-etcd'])
    // It fails as exec would: the command's own name and why.
    expect(() => execFileSync(launcher[0], [...launcher.slice(1), 'no-such-command'], {stdio: 'pipe'})).toThrow(/cannot run no-such-command: No such file/)
  })

  it('recreates etcd and the agent, nothing else, when their certificates change', () => {
    const before = specLabels(specs())
    const etcdOnly = specLabels(specs({tls: {...TLS, etcd: {...TLS.etcd!, cert: 'NEW ETCD CERT'}}}))
    expect(etcdOnly).toEqual({...before, etcd: etcdOnly.etcd})
    expect(etcdOnly.etcd).not.toBe(before.etcd)
    const agentOnly = specLabels(specs({tls: {...TLS, agent: {...TLS.agent!, cert: 'NEW HOST CERT'}}}))
    expect(agentOnly).toEqual({...before, agent: agentOnly.agent})
    expect(agentOnly.agent).not.toBe(before.agent)
  })

  it('gives the agent no certificate for an etcd of the user’s own without TLS', () => {
    const map = specs({settings: {etcdEndpoints: ['http://10.0.0.5:2379']}, tls: {agent: null, etcd: null}})
    expect(spec('agent', map).create.Env?.filter((entry) => entry.startsWith('HIGHWAY_ETCD_'))).toEqual([])
  })

  it('runs no etcd with external endpoints, and hands the endpoints to the agent', () => {
    const map = specs({settings: {etcdEndpoints: ['https://10.0.0.5:2379', 'https://10.0.0.6:2379']}, tls: {...TLS, etcd: null}})
    expect([...map.keys()]).toEqual(['proxy', 'dns', 'agent'])
    expect(spec('agent', map).create.Env).toContain('HIGHWAY_ETCD=https://10.0.0.5:2379,https://10.0.0.6:2379')
    expect(spec('agent', map).create.Env).toContain('HIGHWAY_ETCD_CERT=HOST CERT PEM')
    expect(spec('agent', map).network).toBeNull()
    // The other components do not depend on where etcd is.
    expect(specLabel(spec('proxy', map))).toBe(specLabel(spec('proxy')))
    expect(specLabel(spec('dns', map))).toBe(specLabel(spec('dns')))
  })

  it('gives the agent its host id, the domain, bridge IP and local etcd by its name on the registry network', () => {
    expect(spec('agent').create.Env).toEqual([
      'HIGHWAY_HOST_ID=0123456789abcdef',
      'HIGHWAY_DOMAIN=local',
      'HIGHWAY_BRIDGE_IP=172.17.0.1',
      'HIGHWAY_ETCD=https://highway-etcd:2379',
      'HIGHWAY_ETCD_CA=CA PEM',
      'HIGHWAY_ETCD_CERT=HOST CERT PEM',
      'HIGHWAY_ETCD_KEY=HOST KEY PEM',
    ])
    expect(spec('agent').create.Cmd).toEqual(['node', '--max-semi-space-size=1', '--single-threaded', '--optimize-for-size', '/opt/highway/lib/agent.cjs'])
  })

  it('mounts the docker socket into the agent only', () => {
    for (const dockerSocket of ['/var/run/docker.sock', '/run/user/1000/docker.sock']) {
      const map = specs({dockerSocket})
      const mounting = [...map.values()].filter((item) =>
        (item.create.HostConfig?.Binds ?? []).some((bind) => bind.includes('docker.sock') || bind.startsWith(`${dockerSocket}:`)),
      )
      expect(mounting.map((item) => item.component)).toEqual(['agent'])
      expect(spec('agent', map).create.HostConfig?.Binds).toEqual([`${dockerSocket}:/var/run/docker.sock`, 'highway-proxy-run:/run/highway'])
    }
  })

  it('shares the proxy run volume between the proxy and the agent only', () => {
    const map = specs()
    expect(spec('proxy', map).create.HostConfig?.Binds).toEqual(['highway-proxy-run:/run/highway'])
    expect(spec('proxy', map).volumes).toEqual(['highway-proxy-run'])
    expect(spec('agent', map).volumes).toEqual(['highway-proxy-run'])
    expect(spec('dns', map).volumes).toEqual([])
    expect(spec('dns', map).create.HostConfig?.Binds).toBeUndefined()
  })

  it('starts the proxy with the no-route config and its (empty) map unless the agent already wrote them', () => {
    const proxy = spec('proxy')
    const initial = renderProxyConfig({domain: 'local', records: []})
    expect(proxy.create.Env).toEqual([`HIGHWAY_INITIAL_CONFIG=${initial.config}`])
    const [sh, flag, script] = proxy.create.Cmd as string[]
    expect(script).toMatch(/exec haproxy -W -db -S \/run\/highway\/master\.sock,mode,660 -f \/run\/highway\/haproxy\.cfg$/)
    // Run the real script in a scratch directory, with `true` standing in for haproxy.
    const dir = mkdtempSync(join(tmpdir(), 'highway-proxy-'))
    const local = script.replaceAll('/run/highway', dir).replace(/exec haproxy.*$/, 'true')
    execFileSync(sh, [flag, local], {env: {...process.env, HIGHWAY_INITIAL_CONFIG: initial.config}})
    expect(readFileSync(join(dir, 'haproxy.cfg'), 'utf8')).toBe(initial.config)
    expect(readFileSync(join(dir, basename(initial.mapPath)), 'utf8')).toBe('')
    // A config the agent wrote is kept as it is.
    writeFileSync(join(dir, 'haproxy.cfg'), 'agent wrote this\n')
    execFileSync(sh, [flag, local], {env: {...process.env, HIGHWAY_INITIAL_CONFIG: initial.config}})
    expect(readFileSync(join(dir, 'haproxy.cfg'), 'utf8')).toBe('agent wrote this\n')
  })

  it('runs dnsmasq with the arguments for these settings', () => {
    const settings = {upstreamDns: ['1.1.1.1'], domain: 'test'}
    expect(spec('dns', specs({settings})).create.Cmd).toEqual(dnsCommand({bridgeIp: '172.17.0.1', domain: 'test', upstreams: ['1.1.1.1']}))
  })
})

describe('componentSpecs: hardening', () => {
  const MIB = 1024 * 1024

  it('drops every capability, adds none back, forbids gaining privileges and mounts the root read-only, for every component', () => {
    for (const item of componentSpecs(CONTEXT)) {
      const host = item.create.HostConfig!
      expect(host.CapDrop, item.component).toEqual(['ALL'])
      expect(host.CapAdd, item.component).toBeUndefined()
      expect(host.Privileged, item.component).toBeUndefined()
      expect(host.SecurityOpt, item.component).toEqual(['no-new-privileges'])
      expect(host.ReadonlyRootfs, item.component).toBe(true)
    }
  })

  it('runs etcd, the proxy and dns as their packages’ unprivileged users (dns in the proxy’s group for the names’ hosts file), the agent as root without capabilities in the proxy’s group', () => {
    const users = Object.fromEntries(componentSpecs(CONTEXT).map((item) => [item.component, [item.create.User, item.create.HostConfig?.GroupAdd]]))
    expect(users).toEqual({
      agent: ['root:root', ['highway']],
      dns: ['dnsmasq:nogroup', ['highway']],
      etcd: ['etcd:etcd', undefined],
      proxy: ['haproxy:highway', undefined],
    })
  })

  it('caps memory and processes per component', () => {
    const limits = Object.fromEntries(
      componentSpecs(CONTEXT).map((item) => [item.component, [item.create.HostConfig?.Memory, item.create.HostConfig?.PidsLimit]]),
    )
    expect(limits).toEqual({agent: [256 * MIB, 128], dns: [64 * MIB, 64], etcd: [512 * MIB, 256], proxy: [512 * MIB, 1024]})
  })

  it('gives each component a small non-executable /tmp and nothing else writable but its volumes', () => {
    for (const item of componentSpecs(CONTEXT)) {
      const tmpfs = item.create.HostConfig?.Tmpfs ?? {}
      expect(Object.keys(tmpfs), item.component).toEqual(['/tmp'])
      expect(tmpfs['/tmp'], item.component).toMatch(/^rw,noexec,nosuid,nodev,size=\d+m$/)
    }
  })

  it('lets only the proxy and dns bind below port 1024, through their own network namespace rather than a capability', () => {
    const sysctls = Object.fromEntries(componentSpecs(CONTEXT).map((item) => [item.component, item.create.HostConfig?.Sysctls]))
    expect(sysctls).toEqual({
      agent: undefined,
      dns: {'net.ipv4.ip_unprivileged_port_start': '0'},
      etcd: undefined,
      proxy: {'net.ipv4.ip_unprivileged_port_start': '0'},
    })
  })

  it('gives etcd a backend quota below its memory limit, without touching its command line', () => {
    const etcd = spec('etcd')
    expect(etcd.create.Env?.filter((entry) => entry.startsWith('ETCD_'))).toEqual([`ETCD_QUOTA_BACKEND_BYTES=${256 * MIB}`])
    expect(ETCD_QUOTA_BYTES).toBeLessThan(etcd.create.HostConfig!.Memory!)
    expect(etcd.create.Cmd?.some((arg) => arg.includes('quota'))).toBe(false)
  })

  it('makes the master socket reachable by its group, the agent’s, and no one else', () => {
    const [, , script] = spec('proxy').create.Cmd as string[]
    expect(script).toContain('-S /run/highway/master.sock,mode,660 ')
  })

  it('hands a volume from an older highway to its owner with a one-shot helper: etcd’s data and the proxy’s run directory only', () => {
    const map = specs()
    expect(spec('dns', map).prepare).toBeUndefined()
    expect(spec('agent', map).prepare).toBeUndefined()
    expect(spec('etcd', map).prepare).toEqual({
      Cmd: ['sh', '-c', 'chown -R etcd:etcd /var/lib/etcd && chmod 0700 /var/lib/etcd'],
      HostConfig: {
        Binds: ['highway-etcd-v2:/var/lib/etcd'],
        CapAdd: ['CHOWN', 'DAC_READ_SEARCH', 'FOWNER'],
        CapDrop: ['ALL'],
        NetworkMode: 'none',
        ReadonlyRootfs: true,
        SecurityOpt: ['no-new-privileges'],
      },
      Image: 'highway/infra:0.1.0-0123456789',
      Labels: {'io.highway.managed': 'true', 'io.highway.one-shot': 'true'},
      User: 'root:root',
      name: 'highway-etcd-prepare',
    })
    expect(spec('proxy', map).prepare?.Cmd).toEqual(['sh', '-c', 'chown -R haproxy:highway /run/highway && chmod 2770 /run/highway'])
    expect(spec('proxy', map).prepare?.HostConfig?.Binds).toEqual(['highway-proxy-run:/run/highway'])
  })

  it('never labels the helper as a component, so up and status never take it for one', () => {
    for (const item of componentSpecs(CONTEXT)) expect(item.prepare?.Labels?.['io.highway.component']).toBeUndefined()
  })
})

describe('etcdEndpoints', () => {
  it('points the host at the local etcd on loopback unless endpoints are given', () => {
    expect(LOOPBACK_ETCD_URL).toBe('https://127.0.0.1:2379')
    expect(etcdEndpoints(SETTINGS)).toEqual(['https://127.0.0.1:2379'])
    expect(etcdEndpoints({...SETTINGS, etcdEndpoints: ['http://10.0.0.5:2379']})).toEqual(['http://10.0.0.5:2379'])
  })
})

describe('componentSpecs: the registry network', () => {
  it('gives etcd and the agent an alias of their own name there, so a replacement under a temporary name answers it', () => {
    const map = new Map(componentSpecs(CONTEXT).map((item) => [item.component, item]))
    expect(map.get('etcd')!.create.NetworkingConfig).toEqual({EndpointsConfig: {'highway-registry': {Aliases: ['highway-etcd']}}})
    expect(map.get('agent')!.create.NetworkingConfig).toEqual({EndpointsConfig: {'highway-registry': {Aliases: ['highway-agent']}}})
    expect(map.get('proxy')!.create.NetworkingConfig).toBeUndefined()
  })
})

describe('componentSpecs: TCP by name', () => {
  const on = () => specs({settings: {tcpRange: '198.19.0.0/16'}})

  it('runs the forwarder after dns and before the agent, on the host’s network, publishing nothing', () => {
    const list = componentSpecs({...CONTEXT, settings: {...SETTINGS, tcpRange: '198.19.0.0/16'}})
    expect(list.map((item) => item.component)).toEqual(['etcd', 'proxy', 'dns', 'tcp', 'agent'])
    const tcp = on().get('tcp')!
    expect([tcp.create.HostConfig?.NetworkMode, tcp.network, tcp.ports, tcp.create.HostConfig?.PortBindings]).toEqual(['host', null, [], {}])
  })

  it('gives the forwarder NET_ADMIN for the range’s route, dropped with everything but NET_BIND_SERVICE before it runs', () => {
    const tcp = on().get('tcp')!
    expect(tcp.create.HostConfig?.CapDrop).toEqual(['ALL'])
    expect(tcp.create.HostConfig?.CapAdd).toEqual(['NET_ADMIN', 'NET_BIND_SERVICE', 'SETPCAP'])
    const script = tcp.create.Cmd!.at(-1)!
    expect(script).toMatch(
      /^ip route replace local "\$HIGHWAY_TCP_RANGE" dev lo table local \|\| exit 1; setpriv --inh-caps=-all --bounding-set=-all,\+net_bind_service node /,
    )
    // The agent's Node flags too: a small young generation, no V8 helper threads keeping malloc arenas after a burst.
    expect(script).toContain(' node --max-semi-space-size=1 --single-threaded --optimize-for-size /opt/highway/lib/tcp.cjs & pid=$!; ')
    expect(script).toContain(`trap 'kill -TERM $pid; wait $pid; ip route del local "$HIGHWAY_TCP_RANGE" dev lo table local; exit 0' TERM INT`)
    expect(tcp.create.Env).toEqual(['HIGHWAY_TCP_RANGE=198.19.0.0/16', `HIGHWAY_BRIDGE_IP=${SETTINGS.bridgeIp}`, `HIGHWAY_DOMAIN=${SETTINGS.domain}`])
    expect(tcp.create.HostConfig?.Binds).toEqual(['highway-proxy-run:/run/highway:ro', 'highway-names:/run/highway-names'])
  })

  it('has dnsmasq read the hosts file the forwarder writes, from a volume of its own mounted read-only', () => {
    const all = on()
    expect(all.get('dns')!.create.Cmd).toContain('--hostsdir=/run/highway-names')
    expect(all.get('dns')!.create.HostConfig?.Binds).toEqual(['highway-names:/run/highway-names:ro'])
    expect(all.get('dns')!.volumes).toEqual(['highway-names'])
    expect(all.get('agent')!.create.Env).toContain('HIGHWAY_TCP_RANGE=198.19.0.0/16')
  })

  it('runs no forwarder and changes nothing else with TCP by name off', () => {
    const off = specs({settings: {tcpRange: ''}})
    expect(off.has('tcp')).toBe(false)
    expect(off.get('dns')!.create.Cmd!.some((arg) => arg.startsWith('--hostsdir'))).toBe(false)
    expect(off.get('dns')!.volumes).toEqual([])
    expect(off.get('agent')!.create.Env!.some((line) => line.startsWith('HIGHWAY_TCP_RANGE'))).toBe(false)
  })
})
