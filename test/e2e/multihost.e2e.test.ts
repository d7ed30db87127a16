// Three hosts, one registry, one bridge subnet: highway's multi-host story end to end. Host A is this
// machine's engine; hosts B and C are dockerds in network namespaces of their own (see netns-hosts.ts),
// all three on Docker's default 172.17.0.0/16 with no route between their bridges: the only way from
// one host to another is the shared segment (10.201.0.0/24), where each host's `--advertise-ip` is.
// A runs etcd (`up --advertise-ip`); B and C join with `up --join FILE`, FILE made on A by `highway
// join-file --advertise-ip <their address>`, and each adds an etcd member over TLS (etcd's member API):
// three members, so the registry survives losing any one. A service is reached by name from the other
// hosts' shells and containers; with any one etcd member stopped, registration and routing go on; a
// host cut off the segment loses its routes everywhere within its lease TTL, then registers again.
import {copyFileSync, existsSync, readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {Status} from '../../src/infra/status.js'
import {JOINABLE_RAFT, leaseFor} from '../../src/registry/held-keys.js'
import type {ServiceRow} from '../../src/service/list.js'
import {
  APP_IMAGE,
  bridgeIp,
  curl,
  dig,
  docker,
  dockerResult,
  ensureAppImage,
  highway,
  makeEnv,
  ownAddress,
  PURGE_KEEPING_IMAGES,
  serve,
  until,
} from './harness.js'
import {
  SWITCH,
  copyImages,
  curlOn,
  dockerOn,
  highwayOn,
  inHost,
  netnsHost,
  setLink,
  startHost,
  startSwitch,
  stopHost,
  stopSwitch,
  type NetnsHost,
} from './netns-hosts.js'

const B = netnsHost('b', 2)
const C = netnsHost('c', 3)
const envA = makeEnv()
const envB = makeEnv()
const envC = makeEnv()
/**
 * Host B's lease TTL, shorter than the default (10 s) to show it is B's to choose; A and C keep the
 * default. B runs an etcd member, which may be the leader that dies with it: 6 s is the shortest such a
 * host keeps (leaseFor), one more second keeps B's etcd lease (3 s) as long as before this bound held.
 */
const LEASE_TTL_B_S = 7
/** Only a hang limit: the bound the test holds B to is its TTL, asserted once its routes are gone. */
const HOST_GONE_LIMIT_MS = 150_000
let ipA: string
let nameB: string
let nameA: string

type Row = ServiceRow

function parseRows(result: {code: number; stdout: string; stderr: string}): Row[] {
  expect(result.code, result.stderr).toBe(0)
  return JSON.parse(result.stdout) as Row[]
}

const lsA = async () => parseRows(await highway(['ls', '--json'], envA))

/** One request through host A's proxy, from host A's shell. */
function throughA(name: string, seconds = 5) {
  return curl(`http://${ipA}/`, {Host: `${name}.local`}, ['-m', String(seconds)])
}

/** One request through a namespaced host's own proxy, from that host's shell. */
function through(host: NetnsHost, name: string, seconds = 5) {
  return curlOn(host, `http://${host.bridgeIp}/`, {Host: `${name}.local`}, seconds)
}

/** Waits until `name` answers 200 through `ask`, and returns the body. */
async function routed(what: string, ask: () => Promise<{status: number; body: string}>): Promise<{value: string; ms: number}> {
  return until(
    what,
    async () => {
      const answer = await ask()
      return answer.status === 200 ? answer.body.trim() : undefined
    },
    15_000,
    50,
  )
}

async function joinHost(host: NetnsHost, env: NodeJS.ProcessEnv, extra: string[] = []): Promise<void> {
  const madeOnA = join(envA.HIGHWAY_CONFIG_DIR!, `host-${host.letter}.join`)
  const made = await highway(['join-file', '--out', madeOnA, '--advertise-ip', host.address], envA)
  expect(made.code, made.stdout + made.stderr).toBe(0)
  expect(made.stdout).toContain(`runs etcd member`)
  const carried = join(env.HIGHWAY_CONFIG_DIR!, `host-${host.letter}.join`)
  copyFileSync(madeOnA, carried)
  expect(statSync(carried).mode & 0o777).toBe(0o600)
  const up = await highwayOn(host, ['up', '--join', carried, '--advertise-ip', host.address, ...extra], env)
  expect(up.code, up.stdout + up.stderr).toBe(0)
  const settings = JSON.parse(readFileSync(join(env.HIGHWAY_CONFIG_DIR!, 'settings.json'), 'utf8')) as {
    hostId: string
    etcdEndpoints: string[]
    etcdPeers: string[]
  }
  // It runs a member of its own, and fails over to the members it found.
  expect(settings.etcdEndpoints).toEqual([])
  expect(settings.etcdPeers).toContain(`https://${SWITCH.rootAddress}:2379`)
  expect(settings.hostId).toBe((JSON.parse(readFileSync(carried, 'utf8')) as {hostId: string}).hostId)
  // The CA key never leaves host A.
  expect(existsSync(join(env.HIGHWAY_CONFIG_DIR!, 'pki', 'ca.key'))).toBe(false)
  // The same default bridge as host A's: nothing but the advertise addresses tells the hosts apart.
  expect(await dockerOn(host, 'network', 'inspect', 'bridge', '--format', '{{range .IPAM.Config}}{{.Subnet}}{{end}}')).toBe('172.17.0.0/16')
}

async function teardown(): Promise<void> {
  // Together: each host leaves the cluster before its etcd stops (down's leaveCluster), and etcd
  // orders the two removals.
  const hosts = [
    [B, envB],
    [C, envC],
  ] as const
  await Promise.all(
    hosts.map(async ([host, env]) => {
      await setLink(host, true).catch(() => {})
      await stopHost(host, env)
    }),
  )
  await dockerResult('rm', '-f', 'local-svc')
  await highway(PURGE_KEEPING_IMAGES, envA)
  await stopSwitch()
}

beforeAll(async () => {
  const started = Date.now()
  try {
    ipA = await bridgeIp()
    expect(ipA).toBe('172.17.0.1')
    await ensureAppImage()
    await dockerResult('rm', '-f', 'local-svc')
    await startSwitch()
    const upA = await highway(['up', '--advertise-ip', SWITCH.rootAddress], envA)
    expect(upA.code, upA.stdout + upA.stderr).toBe(0)
    const infraImage = (await docker('ps', '--filter', 'label=io.highway.component=proxy', '--format', '{{.Image}}')).split('\n')[0]
    expect(infraImage).toMatch(/^highway\/infra:/)
    await Promise.all([startHost(B), startHost(C)])
    await Promise.all([copyImages(B, [infraImage, APP_IMAGE]), copyImages(C, [infraImage, APP_IMAGE])])
    nameA = await docker('info', '--format', '{{.Name}}')
    nameB = await dockerOn(B, 'info', '--format', '{{.Name}}')
    expect(nameB).toBe(B.hostname)
    await joinHost(B, envB, ['--lease-ttl', String(LEASE_TTL_B_S)])
    await joinHost(C, envC)
    // A learns the members that joined since its own `up`: its CLI and agent fail over to them.
    const again = await highway(['up'], envA)
    expect(again.code, again.stdout + again.stderr).toBe(0)
    console.log(`[multihost] setup: ${Date.now() - started} ms`)
  } catch (error) {
    await teardown()
    throw error
  }
}, 400_000)

afterAll(async () => {
  const started = Date.now()
  await teardown()
  console.log(`[multihost] teardown: ${Date.now() - started} ms`)
}, 240_000)

describe('three hosts on one bridge subnet', () => {
  it("publishes a service on B's advertise address, and routes it by name from A's and C's shells", async () => {
    const run = await highwayOn(B, ['run', '-d', '--name', 'remote', '-p', '9090', APP_IMAGE, ...serve('hello-from-b')], envB)
    expect(run.code, run.stderr).toBe(0)
    const bindings = (await dockerOn(B, 'port', 'remote', '9090/tcp')).split('\n').map((line) => line.trim())
    const advertised = bindings.find((binding) => binding.startsWith(`${B.address}:`))
    expect(advertised, bindings.join(' ')).toBeDefined()
    expect(bindings.some((binding) => binding.startsWith(`${B.bridgeIp}:`))).toBe(true)

    const onA = await routed('remote.local routed on A', () => throughA('remote', 1))
    expect(onA.value).toBe('hello-from-b')
    console.log(`[multihost] remote.local routed on A ${onA.ms} ms after run -d returned on B`)
    const onC = await routed('remote.local routed on C', () => through(C, 'remote', 1))
    expect(onC.value).toBe('hello-from-b')
    // The shell's own lookup: A's DNS answers the name with an address of A's own range, where A's
    // TCP forwarder passes port 80 to A's proxy.
    const own = await ownAddress('remote.local', ipA)
    expect((await curl(`http://${own}/`, {Host: 'remote.local'}, ['-m', '2'])).body.trim()).toBe('hello-from-b')

    const row = (await lsA()).find((candidate) => candidate.name === 'remote')
    // The record carries B's advertise address: B's bridge IP is A's own, and would name a port on A.
    expect(row).toMatchObject({backend: advertised, container: 'remote', host: nameB, problem: null, state: 'running', url: 'http://remote.local/'})
  })

  it("routes a service on host A from host B, through B's proxy", async () => {
    const run = await highway(['run', '-d', '--name', 'local-svc', '-p', '9090', APP_IMAGE, ...serve('hello-from-a')], envA)
    expect(run.code, run.stderr).toBe(0)
    const onB = await routed('local-svc.local routed on B', () => through(B, 'local-svc', 1))
    expect(onB.value).toBe('hello-from-a')
    const rows = parseRows(await highwayOn(B, ['ls', '--json'], envB))
    const published = (await docker('port', 'local-svc', '9090/tcp')).split('\n').find((binding) => binding.startsWith(`${SWITCH.rootAddress}:`))
    expect(rows.find((candidate) => candidate.name === 'local-svc')).toMatchObject({backend: published, host: nameA, problem: null, state: 'running'})
  })

  it('answers every query type for names under the domain on host B itself, never upstream', async () => {
    // Host B has no upstream resolver it can reach (nothing outside these hosts is), so a name under
    // the domain that dnsmasq forwards (AAAA: `--address` covers A only since dnsmasq 2.86) times out.
    // Resolvers that ask A and AAAA together (glibc, busybox wget) then stall 15 s on every lookup.
    const started = Date.now()
    const answer = await inHost(B, 'dig', [`@${B.bridgeIp}`, '+time=2', '+tries=1', 'local-svc.local', 'AAAA'])
    expect(answer.stdout, `no answer within ${Date.now() - started} ms`).toMatch(/status: (NOERROR|NXDOMAIN)/)
    expect(answer.stdout).toMatch(/ANSWER: 0,/)
  })

  it('resolves and reaches a service on another host by name from inside containers on every host', async () => {
    // `; exit $?` keeps sh as PID 1: `sh -c 'timeout 5 wget ...'` alone execs timeout as PID 1, which
    // ignores the SIGTERM it sends itself, so the 5 s bound would silently not apply.
    const fetchByName = (name: string) => ['run', '--rm', APP_IMAGE, 'sh', '-c', `timeout 5 wget -qO- http://${name}.local/; exit $?`]
    for (const [who, fetch] of [
      ['B -> A', () => highwayOn(B, fetchByName('local-svc'), envB)],
      ['A -> B', () => highway(fetchByName('remote'), envA)],
      ['C -> B', () => highwayOn(C, fetchByName('remote'), envC)],
      ['C -> A', () => highwayOn(C, fetchByName('local-svc'), envC)],
    ] as const) {
      const started = Date.now()
      const result = await fetch()
      expect(result.code, `${who}: ${result.stderr}`).toBe(0)
      expect(result.stdout.trim(), who).toBe(who.endsWith('A') ? 'hello-from-a' : 'hello-from-b')
      console.log(`[multihost] container ${who} by name in ${Date.now() - started} ms (highway run --rm)`)
    }
  })

  it('reaches a TCP port of a service on another host by name, raw, from a container and the shell of each other host', async () => {
    const run = await highwayOn(B, ['run', '-d', '--name', 'remote-tcp', '-p', '7000', APP_IMAGE, ...serve('tcp-from-b', 7000)], envB)
    expect(run.code, run.stderr).toBe(0)
    // An HTTP server on port 7000, fetched at remote-tcp.local:7000: the bytes pass the forwarder raw, no proxy reads them.
    const fetchRaw = ['run', '--rm', APP_IMAGE, 'sh', '-c', 'timeout 5 wget -qO- http://remote-tcp.local:7000/; exit $?']
    for (const [who, fetch] of [
      ['A -> B', () => highway(fetchRaw, envA)],
      ['C -> B', () => highwayOn(C, fetchRaw, envC)],
    ] as const) {
      const answer = await until(
        `remote-tcp.local:7000 from a container on ${who[0]}`,
        async () => {
          const result = await fetch()
          return result.code === 0 ? result.stdout.trim() : undefined
        },
        15_000,
        50,
      )
      expect(answer.value, who).toBe('tcp-from-b')
    }
    const [address] = await dig('remote-tcp.local', ipA)
    expect((await curl(`http://${address}:7000/`, {}, ['-m', '2'])).body.trim()).toBe('tcp-from-b')
  })

  it('runs a three-member etcd cluster over TLS: status shows members, leader, health and this host’s lease', async () => {
    const status = JSON.parse((await highway(['status', '--json'], envA)).stdout) as Status
    expect(status.cluster?.members.map((member) => member.peerUrls[0]).sort()).toEqual(
      [SWITCH.rootAddress, B.address, C.address].map((address) => `https://${address}:2380`).sort(),
    )
    expect(status.cluster?.members.every((member) => member.ok && !member.learner)).toBe(true)
    expect(status.cluster?.members.filter((member) => member.leader)).toHaveLength(1)
    // Each host shows the TTL it promises; its etcd lease is shorter by what a leader's death adds (see leaseFor).
    expect(status.leaseTtl).toBe(10)
    expect(status.cluster?.lease?.grantedTtl).toBe(leaseFor(10, JOINABLE_RAFT.electionMs).grantSeconds)
    const onB = JSON.parse((await highwayOn(B, ['status', '--json'], envB)).stdout) as Status
    expect(onB.leaseTtl).toBe(LEASE_TTL_B_S)
    expect(onB.cluster?.lease?.grantedTtl).toBe(leaseFor(LEASE_TTL_B_S, JOINABLE_RAFT.electionMs).grantSeconds)
    // A fourth host would be a client only: three members survive the loss of any one.
    const fourth = await highway(['join-file', '--out', join(envA.HIGHWAY_CONFIG_DIR!, 'host-d.join'), '--advertise-ip', '10.201.0.9'], envA)
    expect(fourth.stdout).toContain('etcd at')
    expect(fourth.stdout).not.toContain('runs etcd member')
  })

  it('refuses a second host joining with a host id that is alive elsewhere, creating nothing', async () => {
    const envOther = makeEnv()
    const carried = join(envOther.HIGHWAY_CONFIG_DIR!, 'reused.join')
    copyFileSync(join(envB.HIGHWAY_CONFIG_DIR!, `host-${B.letter}.join`), carried)
    const before = await dockerOn(C, 'ps', '-aq')
    const result = await highwayOn(C, ['up', '--join', carried], envOther)
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(new RegExp(`^highway: host id \\S+ is in use: host ${B.hostname}'s agent holds it`, 'm'))
    expect(await dockerOn(C, 'ps', '-aq')).toBe(before)
    expect(existsSync(join(envOther.HIGHWAY_CONFIG_DIR!, 'pki'))).toBe(false)
  })

  it('refuses a client-only host whose advertise address the other hosts cannot reach, creating nothing', async () => {
    // A fourth host's file (three members already: a client only), used on C's namespace and engine with
    // a config of its own. Its address is C's, on C's loopback interface (this kernel has no dummy
    // interfaces), and C's veth answers ARP only for the addresses on it: A's and B's agents ask the
    // segment for it and get no answer (nothing leaves the segment). Local to C, so only the other
    // hosts' dial can tell.
    const hidden = '10.201.0.77'
    const envOther = makeEnv()
    const madeOnA = join(envA.HIGHWAY_CONFIG_DIR!, 'unreachable.join')
    const made = await highway(['join-file', '--out', madeOnA], envA)
    expect(made.code, made.stderr).toBe(0)
    expect(made.stdout).not.toContain('runs etcd member')
    const carried = join(envOther.HIGHWAY_CONFIG_DIR!, 'unreachable.join')
    copyFileSync(madeOnA, carried)
    const inC = async (...args: string[]) => {
      const result = await inHost(C, args[0], args.slice(1))
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0)
    }
    await inC('sysctl', '-qw', `net.ipv4.conf.${C.vethNs}.arp_ignore=1`)
    try {
      await inC('ip', 'addr', 'add', `${hidden}/32`, 'dev', 'lo')
      const before = await dockerOn(C, 'ps', '-aq')
      const started = Date.now()
      const result = await highwayOn(C, ['up', '--join', carried, '--advertise-ip', hidden], envOther)
      console.log(`[multihost] unreachable --advertise-ip refused in ${Date.now() - started} ms`)
      expect(result.code, result.stdout + result.stderr).toBe(1)
      const line = new RegExp(`^highway: --advertise-ip ${hidden.replaceAll('.', '\\.')} is not reachable from the other hosts \\((.*)\\)$`, 'm').exec(
        result.stderr,
      )
      expect(line, result.stderr).not.toBeNull()
      // Each live host said why: A (this machine's engine name) and B.
      expect(line![1]).toContain(`${nameA}: `)
      expect(line![1]).toContain(`${B.hostname}: `)
      expect(result.stderr).toMatch(/give --advertise-ip an address of this host that the other hosts reach/)
      expect(await dockerOn(C, 'ps', '-aq')).toBe(before)
      expect(existsSync(join(envOther.HIGHWAY_CONFIG_DIR!, 'pki'))).toBe(false)
      expect(existsSync(join(envOther.HIGHWAY_CONFIG_DIR!, 'settings.json'))).toBe(false)
    } finally {
      await inHost(C, 'ip', ['addr', 'del', `${hidden}/32`, 'dev', 'lo'])
      await inHost(C, 'sysctl', ['-qw', `net.ipv4.conf.${C.vethNs}.arp_ignore=0`])
    }
    // The others go on: a service on B by name through C's proxy and A's.
    expect((await through(C, 'remote')).body.trim()).toBe('hello-from-b')
    expect((await throughA('remote')).body.trim()).toBe('hello-from-b')
  })

  it('goes on registering and routing on every host while any one etcd member is stopped, and the member rejoins', async () => {
    // Host A's member: the first one, whose CLI and agent now reach the cluster through B's and C's.
    await docker('stop', 'highway-etcd')
    try {
      const run = await highway(['run', '-d', '--name', 'while-a-etcd-down', '-p', '9090', APP_IMAGE, ...serve('registered-without-a-etcd')], envA)
      expect(run.code, run.stderr).toBe(0)
      expect((await routed('while-a-etcd-down.local routed on B', () => through(B, 'while-a-etcd-down', 1))).value).toBe('registered-without-a-etcd')
      expect((await routed('while-a-etcd-down.local routed on C', () => through(C, 'while-a-etcd-down', 1))).value).toBe('registered-without-a-etcd')
      const status = JSON.parse((await highway(['status', '--json'], envA)).stdout) as Status
      expect(status.cluster, 'status reads the cluster from the other members').not.toBeNull()
      expect(status.cluster?.members.filter((member) => !member.ok)).toHaveLength(1)
      // doctor names the member that is down, with what brings it back; the others answer.
      const doctor = JSON.parse((await highway(['doctor', '--json'], envA)).stdout) as {checks: Array<{id: string; status: string; fix: string | null}>}
      const members = doctor.checks.filter((check) => check.id.startsWith('registry.member.'))
      expect(members.map((check) => check.status).sort()).toEqual(['ok', 'ok', 'warn'])
      expect(members.find((check) => check.status === 'warn')?.fix).toMatch(/highway up/)
    } finally {
      await docker('start', 'highway-etcd')
    }
    await until(
      'three healthy members again',
      async () => {
        const status = JSON.parse((await highway(['status', '--json'], envA)).stdout) as Status
        return status.cluster?.members.every((member) => member.ok) ? true : undefined
      },
      30_000,
      500,
    )
    await dockerResult('rm', '-f', 'while-a-etcd-down')
  }, 90_000)

  it("drops a host's routes everywhere within its lease TTL when it is cut off, and registers them again when it returns", async () => {
    expect((await throughA('remote', 1)).status).toBe(200)
    const before = JSON.parse((await highway(['status', '--json'], envA)).stdout) as Status
    const bLed = before.cluster?.members.find((member) => member.leader)?.peerUrls[0] === `https://${B.address}:2380`
    // Taken before the cut, so the times below are never shorter than they were.
    const cut = Date.now()
    await setLink(B, false)
    try {
      const gone = (ask: () => Promise<{status: number; headers: string}>) => async () => {
        const answer = await ask()
        return answer.status === 404 && /x-highway: not-found/i.test(answer.headers) ? answer : undefined
      }
      // Hang limits; the bound is asserted below (B's member may have led: a new leader restarts every lease).
      // A and C are asked side by side, so neither's time includes the wait for the other.
      const goneAfter = async (what: string, ask: () => Promise<{status: number; headers: string}>) => {
        await until(what, gone(ask), HOST_GONE_LIMIT_MS, 50)
        return Date.now() - cut
      }
      const [onA, onC] = await Promise.all([
        goneAfter('remote.local answers highway 404 on A', () => throughA('remote', 1)),
        goneAfter('remote.local answers highway 404 on C', () => through(C, 'remote', 1)),
      ])
      console.log(
        `[multihost] host B cut off: remote.local gone from A's proxy after ${onA} ms, from C's after ${onC} ms (B's TTL ${LEASE_TTL_B_S} s; B's member ${bLed ? 'was' : 'was not'} the leader)`,
      )
      // The promise, not a performance figure: a dead host's routes leave every proxy within its TTL.
      expect(onA, "B's routes outlived its TTL on A").toBeLessThanOrEqual(LEASE_TTL_B_S * 1000)
      expect(onC, "B's routes outlived its TTL on C").toBeLessThanOrEqual(LEASE_TTL_B_S * 1000)
      const rows = await lsA()
      expect(rows.some((row) => row.host === nameB)).toBe(false)
      // The live hosts are untouched.
      expect((await through(C, 'local-svc')).body.trim()).toBe('hello-from-a')
    } finally {
      // Whatever failed above, the next tests need B back.
      await setLink(B, true)
    }
    const back = Date.now()
    const again = await routed('remote.local routed on A again', () => throughA('remote', 1)).catch(async (error: Error) => {
      throw new Error(`${error.message}; B's agent: ${await dockerOn(B, 'logs', '--tail', '20', 'highway-agent').catch(() => '')}`)
    })
    expect(again.value).toBe('hello-from-b')
    console.log(`[multihost] host B back: remote.local routed on A again after ${Date.now() - back} ms`)
  }, 400_000)

  it('takes a member host’s etcd out of the cluster on `down` (member remove), and the others go on', async () => {
    const down = await highwayOn(C, ['down'], envC)
    expect(down.code, down.stderr).toBe(0)
    expect(down.stdout, down.stderr).toMatch(/removed etcd member highway-\S+ from the cluster/)
    const status = JSON.parse((await highway(['status', '--json'], envA)).stdout) as Status
    expect(status.cluster?.members.map((member) => member.peerUrls[0]).sort()).toEqual(
      [SWITCH.rootAddress, B.address].map((address) => `https://${address}:2380`).sort(),
    )
    expect((await throughA('remote')).body.trim()).toBe('hello-from-b')
  }, 60_000)
})
