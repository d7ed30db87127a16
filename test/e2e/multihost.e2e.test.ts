// Two hosts, one etcd: highway's multi-host story end to end. Host A is this machine's engine (it runs
// etcd, published for other hosts with `up --advertise-ip` on A's end of the veth pair); host B is a
// second dockerd in its own network namespace (see second-host.ts), whose highway is started with
// `up --join FILE`, FILE made on A by `highway join-file` and carried to B's config directory. A service
// on either host is reached by name from the other, through the proxy and through DNS, and a dead
// host's routes expire with its lease.
import {copyFileSync, existsSync, readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {ServiceRow} from '../../src/service/list.js'
import {APP_IMAGE, bridgeIp, curl, docker, dockerResult, ensureAppImage, highway, makeEnv, PURGE_KEEPING_IMAGES, serve, until} from './harness.js'
import {HOST_B, copyImages, curlB, dockerB, highwayB, inB, startHostB, stopHostB} from './second-host.js'

const envA = makeEnv()
const envB = makeEnv()
/** The agent's lease TTL (src/registry/etcd.ts, HeldKeys). */
const LEASE_TTL_MS = 10_000
let ipA: string
let nameA: string
let nameB: string

type Row = ServiceRow

function parseRows(result: {code: number; stdout: string; stderr: string}): Row[] {
  expect(result.code, result.stderr).toBe(0)
  return JSON.parse(result.stdout) as Row[]
}

const lsA = async () => parseRows(await highway(['ls', '--json'], envA))
const lsB = async () => parseRows(await highwayB(['ls', '--json'], envB))

/** One request through host A's proxy, from host A. */
function throughA(name: string, seconds = 5) {
  return curl(`http://${ipA}/`, {Host: `${name}.local`}, ['-m', String(seconds)])
}

/** One request through host B's proxy, from inside host B's namespace. */
function throughB(name: string, seconds = 5) {
  return curlB(`http://${HOST_B.bridgeIp}/`, {Host: `${name}.local`}, seconds)
}

async function teardown(): Promise<void> {
  await stopHostB(envB)
  await dockerResult('rm', '-f', 'local-svc')
  await highway(PURGE_KEEPING_IMAGES, envA)
}

beforeAll(async () => {
  const started = Date.now()
  try {
    ipA = await bridgeIp()
    await ensureAppImage()
    await dockerResult('rm', '-f', 'local-svc')
    const upA = await highway(['up'], envA)
    expect(upA.code, upA.stdout + upA.stderr).toBe(0)
    const infraImage = (await docker('ps', '--filter', 'label=io.highway.component=proxy', '--format', '{{.Image}}')).split('\n')[0]
    expect(infraImage).toMatch(/^highway\/infra:/)

    await startHostB()
    // etcd listens on loopback only until asked to serve other hosts, on an address of this host's.
    const advertise = await highway(['up', '--advertise-ip', HOST_B.hostAddress], envA)
    expect(advertise.code, advertise.stdout + advertise.stderr).toBe(0)
    nameA = await docker('info', '--format', '{{.Name}}')
    nameB = await dockerB('info', '--format', '{{.Name}}')
    expect(nameB).toBe(HOST_B.hostname)
    expect(nameB).not.toBe(nameA)

    await copyImages([infraImage, APP_IMAGE])
    // On A: B's id, etcd user and certificate, in one file; carried to B (same filesystem, B's own config dir).
    const madeOnA = join(envA.HIGHWAY_CONFIG_DIR!, 'host-b.join')
    const joinFile = await highway(['join-file', '--out', madeOnA], envA)
    expect(joinFile.code, joinFile.stdout + joinFile.stderr).toBe(0)
    const carried = join(envB.HIGHWAY_CONFIG_DIR!, 'host-b.join')
    copyFileSync(madeOnA, carried)
    expect(statSync(carried).mode & 0o777).toBe(0o600)
    const upB = await highwayB(['up', '--join', carried], envB)
    expect(upB.code, upB.stdout + upB.stderr).toBe(0)
    // B uses A's etcd at A's advertise address, as the host the file names; it keeps no CA key of its own.
    const settingsB = JSON.parse(readFileSync(join(envB.HIGHWAY_CONFIG_DIR!, 'settings.json'), 'utf8')) as {hostId: string; etcdEndpoints: string[]}
    const settingsA = JSON.parse(readFileSync(join(envA.HIGHWAY_CONFIG_DIR!, 'settings.json'), 'utf8')) as {hostId: string}
    expect(settingsB.etcdEndpoints).toEqual([`https://${HOST_B.hostAddress}:2379`])
    expect(settingsB.hostId).toBe((JSON.parse(readFileSync(carried, 'utf8')) as {hostId: string}).hostId)
    // highway names hosts by its own id: two hosts sharing one would be one host to it.
    expect(settingsB.hostId).not.toBe(settingsA.hostId)
    expect(existsSync(join(envB.HIGHWAY_CONFIG_DIR!, 'pki', 'ca.key'))).toBe(false)
    expect(existsSync(join(envB.HIGHWAY_CONFIG_DIR!, 'pki', 'host.key'))).toBe(true)
    // B runs no etcd of its own: its agent uses A's.
    expect(await dockerB('ps', '-a', '--filter', 'label=io.highway.managed=true', '--format', '{{.Label "io.highway.component"}}')).not.toContain('etcd')
    console.log(`[multihost] setup: ${Date.now() - started} ms`)
  } catch (error) {
    await teardown()
    throw error
  }
}, 300_000)

afterAll(async () => {
  const started = Date.now()
  await teardown()
  console.log(`[multihost] teardown: ${Date.now() - started} ms`)
}, 180_000)

describe('two hosts, one etcd', () => {
  it('routes a service on host B from host A, and lists it with host B as its host', async () => {
    const run = await highwayB(['run', '-d', '--name', 'remote', '-p', '9090', APP_IMAGE, ...serve('hello-from-b')], envB)
    expect(run.code, run.stderr).toBe(0)
    // `run -d` returned once B's own proxy routes it; A's proxy hears of it through etcd's watch.
    const routed = await until(
      'remote.local routed on A',
      async () => {
        const answer = await throughA('remote', 1)
        return answer.status === 200 ? answer.body.trim() : undefined
      },
      10_000,
      20,
    )
    expect(routed.value).toBe('hello-from-b')
    console.log(`[multihost] remote.local routed on A ${routed.ms} ms after run -d returned on B`)

    const row = (await lsA()).find((candidate) => candidate.name === 'remote')
    expect(row).toMatchObject({container: 'remote', host: nameB, problem: null, state: 'running', url: 'http://remote.local/'})
    const [publishedIp, publishedPort] = (await dockerB('port', 'remote', '9090/tcp')).split(':')
    expect(publishedIp).toBe(HOST_B.bridgeIp)
    expect(row!.backend).toBe(`${HOST_B.bridgeIp}:${publishedPort}`)
  })

  it("routes a service on host A from host B, through B's proxy", async () => {
    const run = await highway(['run', '-d', '--name', 'local-svc', '-p', '9090', APP_IMAGE, ...serve('hello-from-a')], envA)
    expect(run.code, run.stderr).toBe(0)
    const routed = await until(
      'local-svc.local routed on B',
      async () => {
        const answer = await throughB('local-svc', 1)
        return answer.status === 200 ? answer.body.trim() : undefined
      },
      10_000,
      50,
    )
    expect(routed.value).toBe('hello-from-a')
    console.log(`[multihost] local-svc.local routed on B ${routed.ms} ms after run -d returned on A`)

    const row = (await lsB()).find((candidate) => candidate.name === 'local-svc')
    const publishedPort = (await docker('port', 'local-svc', '9090/tcp')).split(':')[1]
    expect(row).toMatchObject({backend: `${ipA}:${publishedPort}`, host: nameA, problem: null, state: 'running'})
  })

  it('answers every query type for names under the domain on host B itself, never upstream', async () => {
    // Host B has no upstream resolver it can reach (nothing outside these two hosts is), so a name under
    // the domain that dnsmasq forwards (AAAA: `--address` covers A only since dnsmasq 2.86) times out.
    // Resolvers that ask A and AAAA together (glibc, busybox wget) then stall 15 s on every lookup.
    const started = Date.now()
    const answer = await inB('dig', [`@${HOST_B.bridgeIp}`, '+time=2', '+tries=1', 'local-svc.local', 'AAAA'])
    expect(answer.stdout, `no answer within ${Date.now() - started} ms`).toMatch(/status: (NOERROR|NXDOMAIN)/)
    // Only an IPv4 address is registered: no AAAA record, answered here.
    expect(answer.stdout).toMatch(/ANSWER: 0,/)
  })

  it('resolves and reaches a service on the other host by name from inside containers, both ways', async () => {
    // `; exit $?` keeps sh as PID 1: `sh -c 'timeout 5 wget ...'` alone execs timeout as PID 1, which
    // ignores the SIGTERM it sends itself, so the 5 s bound would silently not apply.
    const fetchByName = (name: string) => ['run', '--rm', APP_IMAGE, 'sh', '-c', `timeout 5 wget -qO- http://${name}.local/; exit $?`]
    let started = Date.now()
    const fromB = await highwayB(fetchByName('local-svc'), envB)
    expect(fromB.code, fromB.stderr).toBe(0)
    expect(fromB.stdout.trim()).toBe('hello-from-a')
    console.log(`[multihost] container on B fetched local-svc.local in ${Date.now() - started} ms (highway run --rm)`)
    started = Date.now()
    const fromA = await highway(fetchByName('remote'), envA)
    expect(fromA.code, fromA.stderr).toBe(0)
    expect(fromA.stdout.trim()).toBe('hello-from-b')
    console.log(`[multihost] container on A fetched remote.local in ${Date.now() - started} ms (highway run --rm)`)
  })

  it("expires a dead host's routes with its lease", async () => {
    // Host B dies: its agent is killed hard (no lease revoke) and not restarted by Docker.
    await dockerB('update', '--restart=no', 'highway-agent')
    expect((await throughA('remote', 1)).status).toBe(200)
    await dockerB('kill', 'highway-agent')
    const killed = Date.now()
    const expired = await until(
      'remote.local answers highway 404 on A',
      async () => {
        const answer = await throughA('remote', 1)
        return answer.status === 404 && /x-highway: not-found/i.test(answer.headers) ? answer : undefined
      },
      // A hang limit, not a figure: the time is logged below (etcd expires the lease after its TTL).
      LEASE_TTL_MS * 3,
      100,
    )
    const ms = Date.now() - killed
    console.log(`[multihost] lease expiry: remote.local gone from A's proxy ${ms} ms after host B's agent was killed (TTL ${LEASE_TTL_MS} ms)`)
    expect(expired.value.body).toContain('No such service')

    const rows = await lsA()
    expect(rows.map((row) => row.name)).not.toContain('remote')
    expect(rows.some((row) => row.host === nameB)).toBe(false)
    // The live host is untouched.
    expect((await throughA('local-svc')).body.trim()).toBe('hello-from-a')
  }, 60_000)
})
