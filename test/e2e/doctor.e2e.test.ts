// highway doctor against a real highway, each hop broken for real in turn: a component container
// stopped, the bridge's port 53 held by another process of this host, dns-setup's change undone
// (on a copy of /etc/resolv.conf in a private mount namespace, never the machine's own), and the
// agent stopped while a labelled container starts. Each time doctor must name that hop and the
// command that fixes it, exit non-zero, and be all green again once the fix was run.
import {spawn, type ChildProcess} from 'node:child_process'
import {copyFileSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {DoctorReport} from '../../src/doctor/report.js'
import {APP_IMAGE, BIN, bridgeIp, docker, ensureAppImage, highway, makeEnv, PURGE_KEEPING_IMAGES, removeServices, run, serve, until} from './harness.js'

const env = makeEnv()
let ip: string

async function doctor(): Promise<{code: number; report: DoctorReport; text: string}> {
  const json = await highway(['doctor', '--json'], env)
  const text = await highway(['doctor'], env)
  expect(text.code, text.stdout + text.stderr).toBe(json.code)
  return {code: json.code, report: JSON.parse(json.stdout) as DoctorReport, text: text.stdout}
}

function check(report: DoctorReport, id: string) {
  const found = report.checks.find((candidate) => candidate.id === id)
  if (!found) throw new Error(`no check ${id} in ${JSON.stringify(report.checks.map((candidate) => candidate.id))}`)
  return found
}

async function up(): Promise<void> {
  const result = await highway(['up'], env)
  expect(result.code, result.stdout + result.stderr).toBe(0)
}

async function healthy(): Promise<void> {
  const {code, report, text} = await doctor()
  expect(code, text).toBe(0)
  expect(report.firstFailure, text).toBeNull()
}

beforeAll(async () => {
  ip = await bridgeIp()
  await ensureAppImage()
  await removeServices()
  await up()
  const api = await highway(['run', '-d', '--name', 'api', '-p', '9090', APP_IMAGE, ...serve('hello-api')], env)
  expect(api.code, api.stdout + api.stderr).toBe(0)
})

afterAll(async () => {
  await removeServices()
  await highway(PURGE_KEEPING_IMAGES, env)
})

describe('highway doctor', () => {
  it('on a working highway: every check ok or a warning, the name resolves and the proxy answers from a container, exit 0', async () => {
    const {code, report, text} = await doctor()
    expect(code, text).toBe(0)
    expect(
      report.checks.every((candidate) => candidate.status === 'ok' || candidate.status === 'warn'),
      text,
    ).toBe(true)
    expect(check(report, 'container').status, text).toBe('ok')
    expect(check(report, 'agent.lag').status, text).toBe('ok')
    expect(check(report, `registry.https://127.0.0.1:2379`).status, text).toBe('ok')
    // This machine has no dns-setup: a warning with its fix, not a failure.
    expect(check(report, 'resolver.dns-setup')).toMatchObject({fix: 'sudo highway dns-setup', status: 'warn'})
    expect(text).toMatch(/^ok +engine +Docker engine at .* answers$/m)
    expect(text).toMatch(/^every hop answers/m)
    // The probe container is gone.
    expect(await docker('ps', '-a', '--filter', 'name=highway-doctor-probe', '--format', '{{.Names}}')).toBe('')
  })

  it('a stopped proxy: names it, with `highway up` as the fix; what needs the proxy is skipped; green again after the fix', async () => {
    await docker('stop', 'highway-proxy')
    const {code, report, text} = await doctor()
    expect(code, text).toBe(1)
    expect(report.firstFailure).toMatchObject({fix: 'highway up', hop: 'components', id: 'components.proxy'})
    expect(report.firstFailure?.detail).toContain('highway-proxy exited')
    expect(check(report, 'container').status).toBe('skip')
    expect(text).toMatch(/^first failure: components: proxy: highway-proxy exited/m)
    expect(text).toMatch(/^fix: highway up$/m)
    await up()
    await healthy()
  })

  it("the bridge's port 53 held by another process while the DNS is down: names the process and the command that frees it", async () => {
    await docker('stop', 'highway-dns')
    let holder: ChildProcess | undefined
    try {
      holder = spawn(process.execPath, ['-e', `require('dgram').createSocket('udp4').bind(53, '${ip}', () => console.log('bound'))`], {
        stdio: ['ignore', 'pipe', 'inherit'],
      })
      await new Promise<void>((resolve, reject) => {
        holder!.stdout!.once('data', () => resolve())
        holder!.once('exit', (exitCode) => reject(new Error(`the port holder exited with ${exitCode}`)))
      })
      const {code, report, text} = await doctor()
      expect(code, text).toBe(1)
      const fix = `kill ${holder.pid} && highway up`
      expect(report.firstFailure).toMatchObject({fix, id: 'components.dns'})
      expect(check(report, 'ports.53/udp')).toMatchObject({fix, status: 'fail'})
      expect(check(report, 'ports.53/udp').detail).toBe(`53/udp on ${ip} is held by node (pid ${holder.pid}) on ${ip}:53, so highway's dns cannot bind it`)
      // What `up` would hit: the same port, named the same way.
      const blocked = await highway(['up'], env)
      expect(blocked.code).not.toBe(0)
      expect(blocked.stderr).toContain('port 53/udp')
    } finally {
      holder?.kill()
    }
    await up()
    await healthy()
  })

  it('the agent stopped while a labelled container starts: names the agent and the container etcd lacks', async () => {
    await docker('stop', 'highway-agent')
    await docker('run', '-d', '--name', 'late', '--label', 'io.highway.service=late', '-p', `${ip}::9090`, APP_IMAGE, ...serve('late'))
    const {code, report, text} = await doctor()
    expect(code, text).toBe(1)
    expect(report.firstFailure).toMatchObject({fix: 'highway up', id: 'components.agent'})
    const lag = check(report, 'agent.lag')
    expect(lag.status).toBe('fail')
    expect(lag.detail).toMatch(/^etcd lags Docker by 1 container: late \(not registered/)
    await up()
    // The restarted agent registers `late` at its first reconcile.
    await until('doctor green after the agent came back', async () => ((await doctor()).code === 0 ? true : undefined), 20_000, 500)
  })
})

describe('highway doctor with dns-setup (on a copy of /etc/resolv.conf in a private mount namespace)', () => {
  const work = mkdtempSync(join(tmpdir(), 'highway-doctor-'))
  const sections = new Map<string, {output: string; code: number}>()
  let transcript = ''

  beforeAll(async () => {
    copyFileSync('/etc/resolv.conf', join(work, 'resolv.conf'))
    const q = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`
    const copy = q(join(work, 'resolv.conf'))
    const step = (name: string, command: string) => `echo ${q(`== ${name}`)}; ${command} 2>&1; echo "rc=$?"`
    const cli = `${q(process.execPath)} ${q(BIN)}`
    const script = [
      'set -u',
      `mount --bind ${copy} /etc/resolv.conf || exit 90`,
      'mount -t tmpfs tmpfs /var/lib || exit 91',
      `grep -q ' /etc/resolv.conf ' /proc/self/mountinfo || exit 92`,
      step('setup', `${cli} dns-setup`),
      step('doctor-applied', `${cli} doctor --json`),
      // Undone behind highway's back, as an editor or a network manager would: written in place, so the bind mount sees it.
      step('undo-by-hand', `grep -v 'added by highway dns-setup' ${copy} > ${q(join(work, 'stripped'))} && cat ${q(join(work, 'stripped'))} > ${copy}`),
      step('doctor-undone', `${cli} doctor --json`),
    ].join('\n')
    const result = await run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], {env, timeout: 120_000})
    transcript = result.stdout + result.stderr
    expect(result.code, transcript).toBe(0)
    const parts = result.stdout.split(/^== (\S+)\n/m).slice(1)
    for (let index = 0; index < parts.length; index += 2) {
      const body = parts[index + 1]
      sections.set(parts[index], {code: Number(/rc=(\d+)\n?$/.exec(body)?.[1] ?? -1), output: body.replace(/rc=\d+\n?$/, '')})
    }
  })

  afterAll(() => rmSync(work, {force: true, recursive: true}))

  const section = (name: string) => {
    const found = sections.get(name)
    if (!found) throw new Error(`step ${name} did not run:\n${transcript}`)
    return found
  }

  it('with dns-setup applied: the setup holds and a name resolves through getent on the host, and the proxy answers for it', () => {
    expect(section('setup').code, section('setup').output).toBe(0)
    const applied = section('doctor-applied')
    expect(applied.code, applied.output).toBe(0)
    const report = JSON.parse(applied.output) as DoctorReport
    expect(check(report, 'resolver.dns-setup').status).toBe('ok')
    expect(check(report, 'host')).toMatchObject({status: 'ok'})
    expect(check(report, 'host').detail).toBe(
      `highway-probe.local -> ${ip} through this host's resolver (getent hosts highway-probe.local), and the proxy answers for it`,
    )
  })

  it('with the change undone behind its back: names dns-setup as the first failure, with `sudo highway dns-setup` as the fix', () => {
    const undone = section('doctor-undone')
    expect(undone.code, undone.output).toBe(1)
    const report = JSON.parse(undone.output) as DoctorReport
    expect(report.firstFailure).toMatchObject({fix: 'sudo highway dns-setup', hop: 'resolver', id: 'resolver.dns-setup'})
    expect(report.firstFailure?.detail).toContain("highway's DNS setting for .local is no longer in place")
    expect(check(report, 'host').status).toBe('skip')
  })
})
