/**
 * A second Docker "host" on this machine, for the multi-host suite: its own dockerd in its own network
 * namespace (`hwb`), joined to this host by a veth pair, with its own bridge (172.30.0.0/16), engine ID
 * and host name. Everything it creates is named highway-e2e-b* and removed by stopHostB(), which is safe
 * to call at any point (before a start, after a half-finished one, twice).
 *
 * Traps met on the way (see also /work/shared/notes/machine.md):
 * - `nsenter --net`, not `ip netns exec`: the latter remounts /sys and dockerd fails on cgroups.
 * - Docker 20.10 takes its engine ID from /etc/docker/key.json, so a second dockerd would share the
 *   first one's ID (highway keys records by an id of its own, from `up` or a join file, so it would
 *   not mind, but a second host should look like one): the config-file key `deprecated-key-path`
 *   gives this engine a key, hence an ID, of its own.
 * - dockerd names itself after the kernel's host name: a UTS namespace of its own (unshare --uts)
 *   gives it a name of its own, so `highway ls` shows which host a service runs on.
 * - Container shims (and containerd, after a SIGKILL) can outlive dockerd: a dead agent needs a kill
 *   of its own, and teardown stops whatever names this engine's exec root, by pid.
 */
import {spawn} from 'node:child_process'
import {closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {BIN, run, type Result} from './harness.js'

export const HOST_B = {
  ns: 'hwb',
  nsPath: '/var/run/netns/hwb',
  hostname: 'highway-e2e-b',
  vethHost: 'highway-e2e-b0',
  vethNs: 'highway-e2e-b1',
  hostAddress: '10.201.0.1',
  nsAddress: '10.201.0.2',
  subnet: '172.30.0.0/16',
  bridgeIp: '172.30.0.1',
  socket: '/run/highway-e2e-b.sock',
  dockerHost: 'unix:///run/highway-e2e-b.sock',
  dataRoot: '/var/lib/highway-e2e-b',
  execRoot: '/run/highway-e2e-b',
  pidfile: '/run/highway-e2e-b.pid',
  keyFile: '/var/lib/highway-e2e-b/key.json',
  configFile: '/var/lib/highway-e2e-b/daemon.json',
  cgroupParent: 'highway-e2e-b',
  log: '/var/log/highway-e2e-b-dockerd.log',
} as const

const log = (message: string) => console.log(`[host B] ${message}`)

async function must(command: string, args: string[], options: {env?: NodeJS.ProcessEnv; timeout?: number} = {}): Promise<string> {
  const result = await run(command, args, options)
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.code}): ${result.stderr.trim() || result.stdout.trim()}`)
  return result.stdout.trim()
}

/** Best effort, for teardown: failures are logged, never thrown. */
async function attempt(what: string, command: string, args: string[], quiet = false): Promise<Result> {
  const result = await run(command, args, {timeout: 60_000}).catch((error: Error) => ({code: 1, stderr: error.message, stdout: ''}))
  if (result.code !== 0 && !quiet) log(`${what}: ${result.stderr.trim() || `exit ${result.code}`}`)
  return result
}

/** A command inside host B's network namespace. */
export function inB(command: string, args: string[], options: {env?: NodeJS.ProcessEnv; timeout?: number} = {}): Promise<Result> {
  return run('nsenter', [`--net=${HOST_B.nsPath}`, command, ...args], options)
}

/** The docker CLI against host B's engine (the socket works from any namespace). */
export function dockerB(...args: string[]): Promise<string> {
  return must('docker', ['-H', HOST_B.dockerHost, ...args], {timeout: 120_000})
}

/** The built CLI as a user on host B would run it: in B's network namespace, against B's engine. */
export function highwayB(args: string[], env: NodeJS.ProcessEnv, options: {timeout?: number} = {}): Promise<Result> {
  return inB(process.execPath, [BIN, ...args], {env: {...env, DOCKER_HOST: HOST_B.dockerHost}, timeout: options.timeout ?? 180_000})
}

/** curl from inside host B's network namespace; the same shape as the harness's curl. */
export async function curlB(url: string, headers: Record<string, string> = {}, seconds = 5): Promise<{status: number; body: string; headers: string}> {
  const args = ['-s', '-m', String(seconds), '-D', '-', ...Object.entries(headers).flatMap(([key, value]) => ['-H', `${key}: ${value}`]), url]
  const result = await inB('curl', args)
  const [head, ...rest] = result.stdout.split('\r\n\r\n')
  return {body: rest.join('\r\n\r\n'), headers: head, status: Number(/^HTTP\/\S+ (\d+)/.exec(head)?.[1] ?? 0)}
}

async function engineAnswers(): Promise<boolean> {
  return (await run('docker', ['-H', HOST_B.dockerHost, 'info', '--format', '{{.ID}}'], {timeout: 5000})).code === 0
}

/**
 * Creates the namespace, the veth pair and the routes, then starts host B's dockerd and waits until it
 * answers. Leftovers of an earlier run are removed first, so this starts from a clean slate every time.
 */
export async function startHostB(): Promise<void> {
  await stopHostB()
  const {ns, nsPath, vethHost, vethNs} = HOST_B
  await must('ip', ['netns', 'add', ns])
  await must('ip', ['link', 'add', vethHost, 'type', 'veth', 'peer', 'name', vethNs])
  await must('ip', ['link', 'set', vethNs, 'netns', ns])
  await must('ip', ['addr', 'add', `${HOST_B.hostAddress}/30`, 'dev', vethHost])
  await must('ip', ['link', 'set', vethHost, 'up'])
  const inside = async (...args: string[]) => must('nsenter', [`--net=${nsPath}`, ...args])
  await inside('ip', 'link', 'set', 'lo', 'up')
  await inside('ip', 'addr', 'add', `${HOST_B.nsAddress}/30`, 'dev', vethNs)
  await inside('ip', 'link', 'set', vethNs, 'up')
  // Everything else, host A's bridge 172.17.0.0/16 included, goes to host A.
  await inside('ip', 'route', 'add', 'default', 'via', HOST_B.hostAddress)
  // Traffic arriving on the veth for B's containers is forwarded (dockerd sets this too; be sure).
  await inside('sysctl', '-qw', 'net.ipv4.ip_forward=1')
  await must('ip', ['route', 'add', HOST_B.subnet, 'via', HOST_B.nsAddress])

  mkdirSync(HOST_B.dataRoot, {recursive: true})
  // Not a flag in 20.10 (`--deprecated-key-path` is config-file only); an empty config of our own also
  // keeps host A's /etc/docker/daemon.json, if any, out of host B.
  writeFileSync(HOST_B.configFile, `${JSON.stringify({'deprecated-key-path': HOST_B.keyFile})}\n`)
  const out = openSync(HOST_B.log, 'w')
  const dockerd = [
    'dockerd',
    '--data-root',
    HOST_B.dataRoot,
    '--exec-root',
    HOST_B.execRoot,
    '--pidfile',
    HOST_B.pidfile,
    '-H',
    HOST_B.dockerHost,
    '--bip',
    `${HOST_B.bridgeIp}/16`,
    '--cgroup-parent',
    HOST_B.cgroupParent,
    '--config-file',
    HOST_B.configFile,
  ]
  // detached: its own session (setsid), so it outlives nothing of the test's but is killed by pid.
  const child = spawn('nsenter', [`--net=${nsPath}`, 'unshare', '--uts', 'sh', '-c', `hostname ${HOST_B.hostname} && exec "$@"`, 'sh', ...dockerd], {
    detached: true,
    stdio: ['ignore', out, out],
  })
  child.unref()
  closeSync(out)
  const started = Date.now()
  while (!(await engineAnswers())) {
    if (child.exitCode !== null || Date.now() - started > 60_000) {
      throw new Error(
        `host B's dockerd did not answer (exit ${child.exitCode}); log ${HOST_B.log}:\n${readFileSync(HOST_B.log, 'utf8').split('\n').slice(-20).join('\n')}`,
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  log(`dockerd answers after ${Date.now() - started} ms`)
}

/** Copies images from host A's engine to host B's (B has no registry to pull from). */
export async function copyImages(images: string[]): Promise<void> {
  for (const image of images) {
    if ((await run('docker', ['-H', HOST_B.dockerHost, 'image', 'inspect', image], {timeout: 10_000})).code === 0) continue
    const started = Date.now()
    await must('bash', ['-o', 'pipefail', '-c', 'docker save "$1" | docker -H "$2" load -q', 'copy', image, HOST_B.dockerHost], {timeout: 240_000})
    log(`copied ${image} in ${Date.now() - started} ms`)
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
  } catch {
    return []
  }
}

/** containerd and the shims host B's dockerd started: their command lines name B's exec root. */
function enginePids(): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    if (cmdline(Number(entry)).some((arg) => arg === HOST_B.execRoot || arg.startsWith(`${HOST_B.execRoot}/`))) pids.push(Number(entry))
  }
  return pids
}

async function waitGone(pids: number[], ms: number): Promise<boolean> {
  const deadline = Date.now() + ms
  while (pids.some(pidAlive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200))
  return !pids.some(pidAlive)
}

function mountsUnder(...roots: string[]): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((target): target is string => Boolean(target) && roots.some((root) => target === root || target.startsWith(`${root}/`)))
    .sort((a, b) => b.length - a.length)
}

function removeCgroups(): void {
  const base = '/sys/fs/cgroup'
  if (!existsSync(base)) return
  const remove = (dir: string) => {
    for (const entry of readdirSync(dir, {withFileTypes: true})) if (entry.isDirectory()) remove(join(dir, entry.name))
    rmdirSync(dir)
  }
  for (const controller of readdirSync(base)) {
    const dir = join(base, controller, HOST_B.cgroupParent)
    try {
      if (existsSync(dir)) remove(dir)
    } catch (error) {
      log(`cgroup ${dir}: ${(error as Error).message}`)
    }
  }
}

/**
 * Removes host B entirely: highway's containers (with `env`, through `highway down` as a user would),
 * every other container, the engine and its containerd and shims, mounts, data, the namespace, the
 * veth pair and the route. Never throws; what it could not remove is logged.
 */
export async function stopHostB(env?: NodeJS.ProcessEnv): Promise<void> {
  if (existsSync(HOST_B.socket) && (await engineAnswers())) {
    if (env && existsSync(HOST_B.nsPath)) {
      const down = await highwayB(['down'], env, {timeout: 60_000})
      if (down.code !== 0) log(`highway down: ${down.stderr.trim()}`)
    }
    const ids = (await attempt('docker ps', 'docker', ['-H', HOST_B.dockerHost, 'ps', '-aq'])).stdout.trim()
    if (ids) await attempt('docker rm', 'docker', ['-H', HOST_B.dockerHost, 'rm', '-f', ...ids.split('\n')])
  }
  let pid = 0
  try {
    pid = Number(readFileSync(HOST_B.pidfile, 'utf8').trim())
  } catch {
    // not started, or already gone
  }
  if (pid > 1 && pidAlive(pid) && cmdline(pid).includes(HOST_B.execRoot)) {
    log(`stopping dockerd ${pid}`)
    process.kill(pid, 'SIGTERM')
    if (!(await waitGone([pid], 20_000))) {
      log(`dockerd ${pid} ignored SIGTERM for 20 s; SIGKILL`)
      process.kill(pid, 'SIGKILL')
      await waitGone([pid], 5000)
    }
  }
  const leftovers = enginePids()
  if (leftovers.length > 0) {
    log(`stopping containerd/shims left behind: ${leftovers.join(' ')}`)
    for (const leftover of leftovers) {
      try {
        process.kill(leftover, 'SIGKILL')
      } catch {
        // exited meanwhile
      }
    }
    await waitGone(leftovers, 5000)
  }
  for (const target of mountsUnder(HOST_B.dataRoot, HOST_B.execRoot)) await attempt(`umount ${target}`, 'umount', ['-l', target])
  const stillMounted = mountsUnder(HOST_B.dataRoot, HOST_B.execRoot)
  if (stillMounted.length > 0) {
    log(`not removing data: still mounted ${stillMounted.join(' ')}`)
  } else {
    for (const path of [HOST_B.dataRoot, HOST_B.execRoot, HOST_B.socket, HOST_B.pidfile]) rmSync(path, {force: true, recursive: true})
  }
  removeCgroups()
  await attempt('route', 'ip', ['route', 'del', HOST_B.subnet], true)
  await attempt('veth', 'ip', ['link', 'del', HOST_B.vethHost], true)
  if (existsSync(HOST_B.nsPath)) await attempt('netns', 'ip', ['netns', 'del', HOST_B.ns])
}
