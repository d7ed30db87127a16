// A host that cannot reach the bridge address, made for real: the "host" is a network namespace of
// the test's own with nothing but its loopback (no route to 172.17.0.0/16, or anywhere), and a copy
// of /etc/resolv.conf in a private mount namespace. As Docker Desktop forwards a port published on
// the VM's 127.0.0.1 to the host's 127.0.0.1, loopback-forwarder.mjs carries 127.0.0.1:53/80/2379
// from that namespace to the engine's. Simulated: the forwarder (Desktop's vpnkit) and the VM (here
// the machine's own namespace). Real: the engine, highway's containers, dig, getent, curl, glibc.
// `up --host-ip 127.0.0.1` forces what `up` does by itself on Docker Desktop, rootless and remote engines.
import {spawn, type ChildProcess} from 'node:child_process'
import {copyFileSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {DoctorReport} from '../../src/doctor/report.js'
import {
  APP_IMAGE,
  BIN,
  bridgeIp,
  dig,
  docker,
  ensureAppImage,
  highway,
  makeEnv,
  ownAddress,
  PURGE_KEEPING_IMAGES,
  removeServices,
  ROOT,
  run,
  serve,
} from './harness.js'

const env = makeEnv()
const work = mkdtempSync(join(tmpdir(), 'highway-host-ip-'))
const FORWARDER = join(ROOT, 'test', 'e2e', 'loopback-forwarder.mjs')
let ip: string
let engineSide: ChildProcess | undefined
let transcript = ''
const sections = new Map<string, {output: string; code: number}>()

function section(name: string): {output: string; code: number} {
  const found = sections.get(name)
  if (!found) throw new Error(`step ${name} did not run; transcript:\n${transcript}`)
  return found
}

/** Runs in the new network and mount namespaces; each step prints "== name", its output, then "rc=N". */
function script(): string {
  const q = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`
  const node = q(process.execPath)
  const cli = `${node} ${q(BIN)}`
  const step = (name: string, command: string) => `echo ${q(`== ${name}`)}; ${command} 2>&1; echo "rc=$?"`
  return [
    'set -u',
    'ip link set lo up || exit 89',
    `mount --bind ${q(join(work, 'resolv.conf'))} /etc/resolv.conf || exit 90`,
    'mount -t tmpfs tmpfs /var/lib || exit 91',
    `grep -q ' /etc/resolv.conf ' /proc/self/mountinfo || exit 92`,
    // The host side of the forwarder, until this script ends; wait until it listens.
    `${node} ${q(FORWARDER)} host ${q(work)} > ${q(join(work, 'host-side.log'))} 2>&1 & forwarder=$!`,
    `for i in $(seq 50); do grep -q ready ${q(join(work, 'host-side.log'))} && break; sleep 0.1; done`,
    step('routes', 'ip -4 route'),
    step('bridge-unreachable', `curl -s -m 3 -o /dev/null http://${ip}/`),
    step('dns-setup', `${cli} dns-setup`),
    step('resolv.conf', 'head -1 /etc/resolv.conf'),
    step('getent-api', 'getent hosts api.local'),
    step('curl-api', `curl -s -m 5 --noproxy '*' http://api.local/`),
    step('doctor', `${cli} doctor --json`),
    step('forwarder-alive', 'kill $forwarder'),
  ].join('\n')
}

beforeAll(async () => {
  ip = await bridgeIp()
  await ensureAppImage()
  await removeServices()
  const up = await highway(['up', '--host-ip', '127.0.0.1'], env)
  expect(up.code, up.stdout + up.stderr).toBe(0)
  const api = await highway(['run', '-d', '--name', 'api', '-p', '9090', APP_IMAGE, ...serve('hello-api')], env)
  expect(api.code, api.stdout + api.stderr).toBe(0)

  engineSide = spawn(process.execPath, [FORWARDER, 'engine', work], {stdio: ['ignore', 'pipe', 'inherit']})
  await new Promise<void>((resolve, reject) => {
    engineSide!.stdout!.once('data', () => resolve())
    engineSide!.once('exit', (code) => reject(new Error(`the engine side of the forwarder exited with ${code}`)))
  })
  copyFileSync('/etc/resolv.conf', join(work, 'resolv.conf'))
  const result = await run('unshare', ['--net', '--mount', '--propagation', 'private', 'sh', '-c', script()], {env, timeout: 120_000})
  transcript = result.stdout + result.stderr
  console.log(`the host in its own network namespace (exit ${result.code}):\n${transcript}`)
  expect(result.code, transcript).toBe(0)
  const parts = result.stdout.split(/^== (\S+)\n/m).slice(1)
  for (let index = 0; index < parts.length; index += 2) {
    const body = parts[index + 1]
    sections.set(parts[index], {code: Number(/rc=(\d+)\n?$/.exec(body)?.[1] ?? -1), output: body.replace(/rc=\d+\n?$/, '')})
  }
})

afterAll(async () => {
  engineSide?.kill()
  await removeServices()
  await highway(PURGE_KEEPING_IMAGES, env)
  rmSync(work, {force: true, recursive: true})
})

describe('up --host-ip 127.0.0.1 (a host that cannot reach the bridge)', () => {
  it('publishes the DNS and the proxy on 127.0.0.1 as well as on the bridge, and remembers it', async () => {
    const ports = await docker('port', 'highway-proxy')
    expect(ports.split('\n').sort()).toEqual([`80/tcp -> 127.0.0.1:80`, `80/tcp -> ${ip}:80`].sort())
    const dns = (await docker('port', 'highway-dns')).split('\n').sort()
    expect(dns).toEqual([`1053/tcp -> 127.0.0.1:53`, `1053/udp -> 127.0.0.1:53`, `53/tcp -> ${ip}:53`, `53/udp -> ${ip}:53`].sort())
    const status = await highway(['status', '--json'], env)
    expect(status.code, status.stderr).toBe(0)
  })

  it('answers 127.0.0.1 to queries arriving on 127.0.0.1, the name’s own address to those arriving on the bridge (udp and tcp)', async () => {
    expect(await dig('api.local', '127.0.0.1')).toEqual(['127.0.0.1'])
    expect(await dig('api.local', '127.0.0.1', 'A', ['+tcp'])).toEqual(['127.0.0.1'])
    const own = await ownAddress('api.local', ip)
    expect(await dig('api.local', ip, 'A', ['+tcp'])).toEqual([own])
    // Unregistered names still answer the bridge address there.
    expect(await dig('nope.local', ip)).toEqual([ip])
  })

  it('containers started by highway run still get the name’s own address (not 127.0.0.1) and reach the service through it', async () => {
    const result = await highway(['run', '--rm', APP_IMAGE, 'sh', '-c', 'nslookup api.local; timeout 5 wget -qO- http://api.local/'], env)
    expect(result.code, result.stdout + result.stderr).toBe(0)
    expect(result.stdout).toContain(`Address: ${await ownAddress('api.local', ip)}`)
    expect(result.stdout).toContain('hello-api')
  })

  it('in the host namespace the bridge is really out of reach: no route to it, a request to it fails', () => {
    expect(section('routes').output.trim()).toBe('')
    expect(section('bridge-unreachable').code).not.toBe(0)
  })

  it('dns-setup there points the resolver at 127.0.0.1 and verifies it', () => {
    const setup = section('dns-setup')
    expect(setup.code, setup.output).toBe(0)
    expect(setup.output).toContain('verified: highway-probe.local -> 127.0.0.1')
    expect(section('resolv.conf').output.trim()).toBe('nameserver 127.0.0.1 # added by highway dns-setup')
  })

  it('there, the name resolves through getent to 127.0.0.1 and curl gets the service by name', () => {
    expect(section('getent-api').output.trim().split(/\s+/)).toEqual(['127.0.0.1', 'api.local'])
    const page = section('curl-api')
    expect(page.code, page.output).toBe(0)
    expect(page.output.trim()).toBe('hello-api')
  })

  it('there, doctor finds every hop working, the bridge out of reach but 127.0.0.1 in use', () => {
    const result = section('doctor')
    expect(result.code, result.output).toBe(0)
    const report = JSON.parse(result.output) as DoctorReport
    expect(report.firstFailure).toBeNull()
    expect(report.checks.find((check) => check.id === 'bridge')?.detail).toBe(
      `${ip} is out of this host's reach; this host uses 127.0.0.1, where the DNS and proxy are also published`,
    )
    expect(report.checks.find((check) => check.id === 'host')).toMatchObject({status: 'ok'})
    expect(report.checks.find((check) => check.id === 'container')).toMatchObject({status: 'ok'})
  })
})
