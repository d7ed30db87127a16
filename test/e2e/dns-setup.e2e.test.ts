// highway dns-setup on this very machine, end to end, without ever touching its /etc/resolv.conf:
// in a private mount namespace (`unshare --mount`) a copy is bind-mounted over /etc/resolv.conf
// (and a tmpfs over /var/lib, where dns-setup keeps its record), so every change lands on the
// copy. After `highway up` and a `highway run` of a test service: dns-setup, then the service's
// name resolves and answers through the system resolver, /etc/hosts names still resolve, and
// `--undo` leaves the copy byte-identical to the saved original.
import {createHash} from 'node:crypto'
import {copyFileSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {APP_IMAGE, BIN, bridgeIp, docker, ensureAppImage, highway, makeEnv, ownAddress, PURGE_KEEPING_IMAGES, removeServices, run, serve} from './harness.js'

const env = makeEnv()
const DOMAIN = 'local'
const work = mkdtempSync(join(tmpdir(), 'highway-dns-setup-'))
const realBefore = sha256('/etc/resolv.conf')
let ip: string
let transcript = ''
let upstream = ''
const sections = new Map<string, {output: string; code: number}>()

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}

/** Runs in the private namespace; each step prints "== name", its output, then "rc=N". */
function script(): string {
  const node = process.execPath
  const q = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`
  const step = (name: string, command: string) => `echo ${q(`== ${name}`)}; ${command} 2>&1; echo "rc=$?"`
  return [
    'set -u',
    `mount --bind ${q(join(work, 'resolv.conf'))} /etc/resolv.conf || exit 90`,
    'mount -t tmpfs tmpfs /var/lib || exit 91',
    // Refuse to go on unless /etc/resolv.conf really is the copy now.
    `grep -q ' /etc/resolv.conf ' /proc/self/mountinfo || exit 92`,
    step('localhost-before', 'getent hosts localhost'),
    step('setup', `${q(node)} ${q(BIN)} dns-setup`),
    step('resolv.conf', 'cat /etc/resolv.conf'),
    step('getent-api', `getent hosts api.${DOMAIN}`),
    step('curl-api', `curl -s -m 5 --noproxy '*' http://api.${DOMAIN}/`),
    step('localhost-after', 'getent hosts localhost'),
    step('getent-upstream', 'getent hosts upstream.example'),
    step('setup-again', `${q(node)} ${q(BIN)} dns-setup`),
    step('undo', `${q(node)} ${q(BIN)} dns-setup --undo`),
    step('cmp', `cmp /etc/resolv.conf ${q(join(work, 'saved'))} && stat -c '%a %u:%g' /etc/resolv.conf ${q(join(work, 'saved'))}`),
    step('undo-again', `${q(node)} ${q(BIN)} dns-setup --undo`),
  ].join('\n')
}

function section(name: string): {output: string; code: number} {
  const found = sections.get(name)
  if (!found) throw new Error(`step ${name} did not run; transcript:\n${transcript}`)
  return found
}

beforeAll(async () => {
  ip = await bridgeIp()
  await ensureAppImage()
  await removeServices()
  // Names outside the domain must still resolve through the system resolver once every lookup goes
  // to highway's DNS first: an upstream server of our own (never the machine's) answers one name.
  const first = await highway(['up'], env)
  expect(first.code, first.stdout + first.stderr).toBe(0)
  const infraImage = await docker('ps', '--filter', 'label=io.highway.component=dns', '--format', '{{.Image}}')
  upstream = await docker(
    'run',
    '-d',
    '--label',
    'highway-e2e=1',
    infraImage,
    'dnsmasq',
    '-k',
    '--no-resolv',
    '--no-hosts',
    '--address=/upstream.example/10.99.0.7',
  )
  const upstreamIp = await docker('inspect', upstream, '--format', '{{.NetworkSettings.IPAddress}}')
  const up = await highway(['up', '--upstream-dns', upstreamIp], env)
  expect(up.code, up.stdout + up.stderr).toBe(0)
  const api = await highway(['run', '-d', '--name', 'api', '-p', '9090', APP_IMAGE, ...serve('hello-api')], env)
  expect(api.code, api.stdout + api.stderr).toBe(0)

  copyFileSync('/etc/resolv.conf', join(work, 'resolv.conf'))
  copyFileSync('/etc/resolv.conf', join(work, 'saved'))
  const result = await run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script()], {env, timeout: 120_000})
  transcript = result.stdout + result.stderr
  console.log(`dns-setup in a private mount namespace (exit ${result.code}):\n${transcript}`)
  expect(result.code, transcript).toBe(0)
  const parts = result.stdout.split(/^== (\S+)\n/m).slice(1)
  for (let index = 0; index < parts.length; index += 2) {
    const body = parts[index + 1]
    const code = Number(/rc=(\d+)\n?$/.exec(body)?.[1] ?? -1)
    sections.set(parts[index], {output: body.replace(/rc=\d+\n?$/, ''), code})
  }
})

afterAll(async () => {
  if (upstream) await docker('rm', '-f', upstream)
  await removeServices()
  await highway(PURGE_KEEPING_IMAGES, env)
  rmSync(work, {recursive: true, force: true})
})

describe('highway dns-setup (in a private mount namespace)', () => {
  it("never touches this machine's own /etc/resolv.conf", () => {
    expect(sha256('/etc/resolv.conf')).toBe(realBefore)
  })

  it('detects the plain resolv.conf, adds its marked line on the copy (written in place: it is a bind mount) and verifies', () => {
    const setup = section('setup')
    expect(setup.code, setup.output).toBe(0)
    expect(setup.output).toMatch(/^detected: plain \/etc\/resolv\.conf that no tool manages/m)
    expect(setup.output).toContain('edited /etc/resolv.conf (written in place: it is a mount point of its own)')
    expect(setup.output).toContain(`verified: highway-probe.${DOMAIN} -> ${ip}`)
    expect(section('resolv.conf').output.split('\n')[0]).toBe(`nameserver ${ip} # added by highway dns-setup`)
  })

  it("resolves the service's name to its own address (highway's DNS, TCP by name) through the system resolver", async () => {
    const lookup = section('getent-api')
    expect(lookup.code, lookup.output).toBe(0)
    expect(lookup.output.trim().split(/\s+/)).toEqual([await ownAddress(`api.${DOMAIN}`, ip), `api.${DOMAIN}`])
  })

  it('reaches the service by name: curl http://api.<domain>/ returns its page', () => {
    const page = section('curl-api')
    expect(page.code, page.output).toBe(0)
    expect(page.output.trim()).toBe('hello-api')
  })

  it('still resolves names outside the domain as before (/etc/hosts)', () => {
    expect(section('localhost-after')).toEqual(section('localhost-before'))
    expect(section('localhost-after').code).toBe(0)
  })

  it('still resolves names outside the domain through the system resolver: highway forwards them upstream', () => {
    const lookup = section('getent-upstream')
    expect(lookup.code, lookup.output).toBe(0)
    expect(lookup.output.trim().split(/\s+/)).toEqual(['10.99.0.7', 'upstream.example'])
  })

  it('changes nothing when run again, and says so', () => {
    const again = section('setup-again')
    expect(again.code, again.output).toBe(0)
    expect(again.output).toContain(`nothing to change: names under .${DOMAIN} already go to ${ip}`)
  })

  it('--undo leaves the file byte-identical (same mode and owner) to the saved copy', () => {
    const undo = section('undo')
    expect(undo.code, undo.output).toBe(0)
    expect(undo.output).toContain('restored /etc/resolv.conf (written in place: it is a mount point of its own)')
    const compared = section('cmp')
    expect(compared.code, compared.output).toBe(0)
    const [bound, saved] = compared.output.trim().split('\n')
    expect(bound).toBe(saved)
    expect(section('undo-again').output).toMatch(/^nothing to undo: no record of a dns-setup in \/var\/lib\/highway\/dns-setup\.json/)
  })
})
