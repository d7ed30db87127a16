// A failed `up` leaves the highway it found; two `up` at once take turns; every component runs
// hardened. Real engine, real components, real clients (curl, dig).
import {spawnSync} from 'node:child_process'
import {cpSync, existsSync, writeFileSync} from 'node:fs'
import {hostname} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {
  APP_IMAGE,
  bridgeIp,
  curl,
  dig,
  docker,
  ensureAppImage,
  highway,
  infraContainers,
  makeEnv,
  OWN_ADDRESS,
  ownAddress,
  PURGE_KEEPING_IMAGES,
  removeServices,
  serve,
  until,
} from './harness.js'

const env = makeEnv()
let ip: string

/** What a client sees of the running highway: a routed service, a DNS answer, etcd's health. */
async function answers(): Promise<{service: string; dns: string[]; etcd: string}> {
  const service = await curl(`http://${ip}/`, {Host: 'keeper.local'})
  const pki = (file: string) => join(env.HIGHWAY_CONFIG_DIR!, 'pki', file)
  const tls = ['--cacert', pki('ca.crt'), '--cert', pki('host.crt'), '--key', pki('host.key'), '--resolve', 'highway-etcd:2379:127.0.0.1']
  const etcd = await curl('https://highway-etcd:2379/health', {}, tls)
  return {dns: await dig('keeper.local', ip), etcd: etcd.body.trim(), service: `${service.status} ${service.body.trim()}`}
}

const WORKING = () => ({dns: [expect.stringMatching(OWN_ADDRESS)], etcd: expect.stringContaining('"health":"true"'), service: '200 kept'})

async function upFresh(): Promise<void> {
  await highway(['down'], env)
  const up = await highway(['up'], env)
  expect(up.code, up.stdout + up.stderr).toBe(0)
}

beforeAll(async () => {
  ip = await bridgeIp()
  await ensureAppImage()
  await removeServices()
  await upFresh()
  const run = await highway(['run', '-d', '--name', 'keeper', '-p', '9090', APP_IMAGE, ...serve('kept')], env)
  expect(run.code, run.stdout + run.stderr).toBe(0)
  await until('keeper to be routed', async () => ((await curl(`http://${ip}/`, {Host: 'keeper.local'})).status === 200 ? true : undefined), 15_000)
})

afterAll(async () => {
  await removeServices()
  await highway(PURGE_KEEPING_IMAGES, env)
})

describe('a failed up leaves the highway it found', () => {
  it('keeps every component when the replacements cannot start (an address this host does not have)', async () => {
    const before = await infraContainers()
    expect(await answers()).toEqual(WORKING())
    // 192.0.2.1 (TEST-NET-1) passes validation, but Docker cannot publish on it: the new proxy fails to start (etcd, on loopback, is unchanged).
    const failed = await highway(['up', '--bridge-ip', '192.0.2.1'], env)
    expect(failed.code).toBe(1)
    expect(failed.stderr).toMatch(/^highway: 192\.0\.2\.1 is not an address of this host, so the proxy cannot listen on it/m)
    expect(await infraContainers()).toEqual(before)
    expect(
      await until('the old highway to answer again', async () => ((await answers()).service === '200 kept' ? answers() : undefined), 15_000),
    ).toMatchObject({value: WORKING()})
  })

  it('puts back every component when the last replacement never answers (an agent that cannot reach etcd)', async () => {
    const before = await infraContainers()
    // An etcd at 127.0.0.3 changes only the agent's spec: its replacement starts, dials an address
    // where nothing listens (from the host and from inside its own network namespace alike), and
    // never reports.
    const failed = await highway(['up', '--etcd', 'http://127.0.0.3:2379'], env, {timeout: 110_000})
    expect(failed.code, failed.stdout).toBe(1)
    expect(failed.stderr).toMatch(/^highway: the route agent did not report a reconcile to etcd/m)
    // The same containers as before (the old ones, started again), and no replacement left behind.
    expect(await infraContainers()).toEqual(before)
    expect(await docker('ps', '-a', '--filter', 'name=highway-', '--format', '{{.Names}}')).not.toMatch(/-next|-prepare/)
    const {value} = await until('the old highway to answer again', async () => ((await answers()).service === '200 kept' ? answers() : undefined), 30_000)
    expect(value).toEqual(WORKING())
    // Nothing of the failed run was remembered: the next plain `up` finds nothing to change.
    const again = await highway(['up'], env)
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toContain('nothing to change')
  })

  it('replaces a changed component and swaps it in under its own name once everything answers', async () => {
    const before = await infraContainers()
    // Another config directory with this one's settings and certificates: only the domain differs, so
    // etcd (same certificates) stays and everything that knows the domain is replaced.
    const other = makeEnv()
    cpSync(env.HIGHWAY_CONFIG_DIR!, other.HIGHWAY_CONFIG_DIR!, {recursive: true})
    const changed = await highway(['up', '--domain', 'swap'], other)
    try {
      expect(changed.code, changed.stdout + changed.stderr).toBe(0)
      const after = await infraContainers()
      expect(after.etcd).toBe(before.etcd)
      for (const component of ['proxy', 'dns', 'agent']) expect(after[component], component).not.toBe(before[component])
      const names = await docker('ps', '-a', '--filter', 'label=io.highway.managed=true', '--format', '{{.Names}}')
      expect(names.split('\n').sort()).toEqual(['highway-agent', 'highway-dns', 'highway-etcd', 'highway-proxy', 'highway-tcp'])
      // The registered name under the new domain answers its own address; an unregistered one the bridge.
      expect(await ownAddress('keeper.swap', ip)).toMatch(OWN_ADDRESS)
      expect(await dig('nobody.swap', ip)).toEqual([ip])
    } finally {
      const back = await highway(['up'], env)
      expect(back.code, back.stderr).toBe(0)
    }
  })
})

describe('one up at a time', () => {
  it('makes a second up wait for the first, says who holds the lock, then finds nothing to change', async () => {
    await highway(['down'], env)
    const firstUp = highway(['up'], env)
    // The second starts once the first holds the lock: started a fixed time later, it won the lock on a loaded machine.
    const lockFile = join(env.HIGHWAY_CONFIG_DIR!, 'up.lock')
    await until('the first up to take the lock', async () => (existsSync(lockFile) ? true : undefined), 30_000)
    const [first, second] = await Promise.all([firstUp, highway(['up'], env)])
    expect(first.code, first.stdout + first.stderr).toBe(0)
    expect(second.code, second.stdout + second.stderr).toBe(0)
    expect(second.stderr).toMatch(/^waiting for another `highway up` \(pid \d+ on \S+, since \S+\) to finish/m)
    expect(first.stderr).not.toMatch(/waiting for another/)
    expect(second.stdout).toContain('nothing to change')
    expect(Object.keys(await infraContainers()).sort()).toEqual(['agent', 'dns', 'etcd', 'proxy', 'tcp'])
    await until('keeper to be routed again', async () => ((await answers()).service === '200 kept' ? true : undefined), 15_000)
  })

  it('takes over a lock left by an up that was killed', async () => {
    const dead = spawnSync(process.execPath, ['-e', '']).pid
    const lockFile = join(env.HIGHWAY_CONFIG_DIR!, 'up.lock')
    writeFileSync(lockFile, JSON.stringify({host: hostname(), pid: dead, since: new Date().toISOString(), token: 'killed'}))
    const up = await highway(['up'], env, {timeout: 60_000})
    expect(up.code, up.stderr).toBe(0)
    expect(up.stderr).not.toMatch(/waiting for another/)
  })
})

describe('hardened components', () => {
  /** The kernel's own view of a component's main process. */
  async function processStatus(component: string): Promise<Record<string, string>> {
    const status = await docker('exec', `highway-${component}`, 'cat', '/proc/1/status')
    return Object.fromEntries(status.split('\n').map((line) => line.split(/:\s+/, 2) as [string, string]))
  }

  it('runs etcd, the proxy and dns as unprivileged users and the agent as root, every one without capabilities or a way to gain them', async () => {
    const expected: Record<string, {uid: string; user: string}> = {
      agent: {uid: '0', user: 'root'},
      dns: {uid: '', user: 'dnsmasq'},
      etcd: {uid: '', user: 'etcd'},
      proxy: {uid: '', user: 'haproxy'},
    }
    for (const [component, {uid, user}] of Object.entries(expected)) {
      const status = await processStatus(component)
      const effective = status.Uid.split(/\s+/)[1]
      const name = await docker('exec', `highway-${component}`, 'sh', '-c', `getent passwd ${effective} | cut -d: -f1`)
      expect(name, component).toBe(user)
      if (uid) expect(effective, component).toBe(uid)
      else expect(effective, component).not.toBe('0')
      for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) expect(status[set], `${component} ${set}`).toBe('0000000000000000')
      expect(status.NoNewPrivs, component).toBe('1')
    }
  })

  it('mounts every root file system read-only and caps memory and processes', async () => {
    for (const component of ['etcd', 'proxy', 'dns', 'agent']) {
      const write = await docker('exec', `highway-${component}`, 'sh', '-c', 'touch /opt/x 2>&1 || true')
      expect(write, component).toMatch(/Read-only file system/)
      const limits = await docker('inspect', `highway-${component}`, '--format', '{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}')
      const [memory, pids] = limits.split(' ').map(Number)
      expect(memory, component).toBeGreaterThan(0)
      expect(pids, component).toBeGreaterThan(0)
    }
  })

  it('gives the docker socket to the agent alone', async () => {
    for (const component of ['etcd', 'proxy', 'dns', 'agent']) {
      const mounts = await docker('inspect', `highway-${component}`, '--format', '{{range .Mounts}}{{.Destination}} {{end}}')
      expect(mounts.includes('docker.sock'), component).toBe(component === 'agent')
    }
  })

  it('takes over an etcd volume and a proxy run directory written by root (an older highway) and still routes', async () => {
    await highway(['down'], env)
    // The proxy's run volume goes with `down`; etcd's stays. Make both look like a pre-hardening highway's.
    await docker('volume', 'create', '--label', 'io.highway.managed=true', 'highway-proxy-run')
    await docker(
      'run',
      '--rm',
      '-v',
      'highway-etcd-v2:/e',
      '-v',
      'highway-proxy-run:/p',
      APP_IMAGE,
      'sh',
      '-c',
      'busybox chown -R 0:0 /e /p && busybox chmod 755 /e /p',
    )
    expect(await docker('run', '--rm', '-v', 'highway-etcd-v2:/e', APP_IMAGE, 'busybox', 'stat', '-c', '%u', '/e/data')).toBe('0')
    const up = await highway(['up'], env)
    expect(up.code, up.stdout + up.stderr).toBe(0)
    expect(await docker('ps', '-a', '--filter', 'name=highway-', '--format', '{{.Names}}')).not.toMatch(/-prepare/)
    const {value} = await until('keeper to be routed', async () => ((await answers()).service === '200 kept' ? answers() : undefined), 30_000)
    expect(value).toEqual(WORKING())
  })
})
