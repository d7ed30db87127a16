/**
 * More Docker "hosts" on this machine, for the multi-host suite: each its own dockerd in its own network
 * namespace (`hwb`, `hwc`), with its own engine ID and host name, on Docker's default bridge subnet
 * (172.17.0.0/16, the same as this machine's engine: nothing routes between bridges). The hosts meet
 * on one Ethernet segment, a Linux bridge in a namespace of its own (`hwsw`), where this machine (host
 * A) is 10.201.0.1 and host B, C are 10.201.0.2, .3: the only addresses traffic ever goes to. Traffic
 * between B and C crosses that bridge only, never this machine's FORWARD chain (Docker's DROP policy).
 * Everything is named highway-e2e-* and removed by stopHost()/stopSwitch(), which are safe to call at
 * any point (before a start, after a half-finished one, twice).
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

/** The segment the hosts share: a bridge in a namespace of its own, and host A's (this machine's) end of it. */
export const SWITCH = {
  ns: 'hwsw',
  nsPath: '/var/run/netns/hwsw',
  bridge: 'highway-e2e-br',
  vethRoot: 'highway-e2e-a0',
  vethPort: 'highway-e2e-as',
  prefix: 24,
  /** Host A's address on the segment: its --advertise-ip. */
  rootAddress: '10.201.0.1',
} as const

export interface NetnsHost {
  letter: string
  ns: string
  nsPath: string
  hostname: string
  /** The veth end inside the host's namespace, and its peer on the switch. */
  vethNs: string
  vethPort: string
  /** The host's address on the segment: its --advertise-ip. */
  address: string
  bridgeIp: string
  socket: string
  dockerHost: string
  dataRoot: string
  execRoot: string
  pidfile: string
  keyFile: string
  configFile: string
  cgroupParent: string
  log: string
}

/** Host `letter` ('b', 'c', ...), the `index`-th on the segment (A is 1). */
export function netnsHost(letter: string, index: number): NetnsHost {
  const name = `highway-e2e-${letter}`
  return {
    letter,
    ns: `hw${letter}`,
    nsPath: `/var/run/netns/hw${letter}`,
    hostname: name,
    vethNs: `${name}1`,
    vethPort: `${name}s`,
    address: `10.201.0.${index}`,
    // Docker's default: every host on the same bridge subnet as this machine's engine.
    bridgeIp: '172.17.0.1',
    socket: `/run/${name}.sock`,
    dockerHost: `unix:///run/${name}.sock`,
    dataRoot: `/var/lib/${name}`,
    execRoot: `/run/${name}`,
    pidfile: `/run/${name}.pid`,
    keyFile: `/var/lib/${name}/key.json`,
    configFile: `/var/lib/${name}/daemon.json`,
    cgroupParent: name,
    log: `/var/log/${name}-dockerd.log`,
  }
}

const log = (host: NetnsHost | undefined, message: string) => console.log(`[host ${host ? host.letter.toUpperCase() : 'switch'}] ${message}`)

async function must(command: string, args: string[], options: {env?: NodeJS.ProcessEnv; timeout?: number} = {}): Promise<string> {
  const result = await run(command, args, options)
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.code}): ${result.stderr.trim() || result.stdout.trim()}`)
  return result.stdout.trim()
}

/** Best effort, for teardown: failures are logged, never thrown. */
async function attempt(host: NetnsHost | undefined, what: string, command: string, args: string[], quiet = false): Promise<Result> {
  const result = await run(command, args, {timeout: 60_000}).catch((error: Error) => ({code: 1, stderr: error.message, stdout: ''}))
  if (result.code !== 0 && !quiet) log(host, `${what}: ${result.stderr.trim() || `exit ${result.code}`}`)
  return result
}

/** A command inside a host's network namespace. */
export function inHost(host: NetnsHost, command: string, args: string[], options: {env?: NodeJS.ProcessEnv; timeout?: number} = {}): Promise<Result> {
  return run('nsenter', [`--net=${host.nsPath}`, command, ...args], options)
}

/** The docker CLI against a host's engine (the socket works from any namespace). */
export function dockerOn(host: NetnsHost, ...args: string[]): Promise<string> {
  return must('docker', ['-H', host.dockerHost, ...args], {timeout: 120_000})
}

/** The built CLI as a user on that host would run it: in its network namespace, against its engine. */
export function highwayOn(host: NetnsHost, args: string[], env: NodeJS.ProcessEnv, options: {timeout?: number} = {}): Promise<Result> {
  return inHost(host, process.execPath, [BIN, ...args], {env: {...env, DOCKER_HOST: host.dockerHost}, timeout: options.timeout ?? 180_000})
}

/** curl from inside a host's network namespace; the same shape as the harness's curl. */
export async function curlOn(
  host: NetnsHost,
  url: string,
  headers: Record<string, string> = {},
  seconds = 5,
): Promise<{status: number; body: string; headers: string}> {
  const args = ['-s', '-m', String(seconds), '-D', '-', ...Object.entries(headers).flatMap(([key, value]) => ['-H', `${key}: ${value}`]), url]
  const result = await inHost(host, 'curl', args)
  const [head, ...rest] = result.stdout.split('\r\n\r\n')
  return {body: rest.join('\r\n\r\n'), headers: head, status: Number(/^HTTP\/\S+ (\d+)/.exec(head)?.[1] ?? 0)}
}

async function engineAnswers(host: NetnsHost): Promise<boolean> {
  return (await run('docker', ['-H', host.dockerHost, 'info', '--format', '{{.ID}}'], {timeout: 5000})).code === 0
}

/** The segment: a bridge in its own namespace, with host A (this machine) on it. Starts from a clean slate. */
export async function startSwitch(): Promise<void> {
  await stopSwitch()
  await must('ip', ['netns', 'add', SWITCH.ns])
  const inside = async (...args: string[]) => must('nsenter', [`--net=${SWITCH.nsPath}`, ...args])
  await inside('ip', 'link', 'add', SWITCH.bridge, 'type', 'bridge')
  await inside('ip', 'link', 'set', SWITCH.bridge, 'up')
  await must('ip', ['link', 'add', SWITCH.vethRoot, 'type', 'veth', 'peer', 'name', SWITCH.vethPort])
  await must('ip', ['link', 'set', SWITCH.vethPort, 'netns', SWITCH.ns])
  await inside('ip', 'link', 'set', SWITCH.vethPort, 'master', SWITCH.bridge)
  await inside('ip', 'link', 'set', SWITCH.vethPort, 'up')
  await must('ip', ['addr', 'add', `${SWITCH.rootAddress}/${SWITCH.prefix}`, 'dev', SWITCH.vethRoot])
  await must('ip', ['link', 'set', SWITCH.vethRoot, 'up'])
}

export async function stopSwitch(): Promise<void> {
  await attempt(undefined, 'veth', 'ip', ['link', 'del', SWITCH.vethRoot], true)
  if (existsSync(SWITCH.nsPath)) await attempt(undefined, 'netns', 'ip', ['netns', 'del', SWITCH.ns])
}

/** Cuts a host off the segment (or plugs it back): to the others, a host that died with its whole network. */
export async function setLink(host: NetnsHost, up: boolean): Promise<void> {
  await must('nsenter', [`--net=${SWITCH.nsPath}`, 'ip', 'link', 'set', host.vethPort, up ? 'up' : 'down'])
}

/**
 * Creates the host's namespace and plugs it into the segment, then starts its dockerd and waits until it
 * answers. Leftovers of an earlier run are removed first, so this starts from a clean slate every time.
 */
export async function startHost(host: NetnsHost): Promise<void> {
  await stopHost(host)
  const {ns, nsPath, vethNs, vethPort} = host
  await must('ip', ['netns', 'add', ns])
  await must('ip', ['link', 'add', vethNs, 'type', 'veth', 'peer', 'name', vethPort])
  await must('ip', ['link', 'set', vethNs, 'netns', ns])
  await must('ip', ['link', 'set', vethPort, 'netns', SWITCH.ns])
  await must('nsenter', [`--net=${SWITCH.nsPath}`, 'ip', 'link', 'set', vethPort, 'master', SWITCH.bridge])
  await must('nsenter', [`--net=${SWITCH.nsPath}`, 'ip', 'link', 'set', vethPort, 'up'])
  const inside = async (...args: string[]) => must('nsenter', [`--net=${nsPath}`, ...args])
  await inside('ip', 'link', 'set', 'lo', 'up')
  await inside('ip', 'addr', 'add', `${host.address}/${SWITCH.prefix}`, 'dev', vethNs)
  await inside('ip', 'link', 'set', vethNs, 'up')
  // Containers reach the other hosts' advertise addresses through the bridge's way out (dockerd's NAT).
  await inside('sysctl', '-qw', 'net.ipv4.ip_forward=1')

  mkdirSync(host.dataRoot, {recursive: true})
  // Not a flag in 20.10 (`--deprecated-key-path` is config-file only); an empty config of our own also
  // keeps this machine's /etc/docker/daemon.json, if any, out of the host.
  writeFileSync(host.configFile, `${JSON.stringify({'deprecated-key-path': host.keyFile})}\n`)
  const out = openSync(host.log, 'w')
  const dockerd = [
    'dockerd',
    '--data-root',
    host.dataRoot,
    '--exec-root',
    host.execRoot,
    '--pidfile',
    host.pidfile,
    '-H',
    host.dockerHost,
    '--bip',
    `${host.bridgeIp}/16`,
    '--cgroup-parent',
    host.cgroupParent,
    '--config-file',
    host.configFile,
  ]
  // detached: its own session (setsid), so it outlives nothing of the test's but is killed by pid.
  const child = spawn('nsenter', [`--net=${nsPath}`, 'unshare', '--uts', 'sh', '-c', `hostname ${host.hostname} && exec "$@"`, 'sh', ...dockerd], {
    detached: true,
    stdio: ['ignore', out, out],
  })
  child.unref()
  closeSync(out)
  const started = Date.now()
  while (!(await engineAnswers(host))) {
    if (child.exitCode !== null || Date.now() - started > 60_000) {
      throw new Error(
        `${host.hostname}'s dockerd did not answer (exit ${child.exitCode}); log ${host.log}:\n${readFileSync(host.log, 'utf8').split('\n').slice(-20).join('\n')}`,
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  log(host, `dockerd answers after ${Date.now() - started} ms`)
}

/** Copies images from host A's engine to another host's (it has no registry to pull from). */
export async function copyImages(host: NetnsHost, images: string[]): Promise<void> {
  for (const image of images) {
    if ((await run('docker', ['-H', host.dockerHost, 'image', 'inspect', image], {timeout: 10_000})).code === 0) continue
    const started = Date.now()
    await must('bash', ['-o', 'pipefail', '-c', 'docker save "$1" | docker -H "$2" load -q', 'copy', image, host.dockerHost], {timeout: 240_000})
    log(host, `copied ${image} in ${Date.now() - started} ms`)
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

/** containerd and the shims a host's dockerd started: their command lines name its exec root. */
function enginePids(host: NetnsHost): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    if (cmdline(Number(entry)).some((arg) => arg === host.execRoot || arg.startsWith(`${host.execRoot}/`))) pids.push(Number(entry))
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

function removeCgroups(host: NetnsHost): void {
  const base = '/sys/fs/cgroup'
  if (!existsSync(base)) return
  const remove = (dir: string) => {
    for (const entry of readdirSync(dir, {withFileTypes: true})) if (entry.isDirectory()) remove(join(dir, entry.name))
    rmdirSync(dir)
  }
  for (const controller of readdirSync(base)) {
    const dir = join(base, controller, host.cgroupParent)
    try {
      if (existsSync(dir)) remove(dir)
    } catch (error) {
      log(host, `cgroup ${dir}: ${(error as Error).message}`)
    }
  }
}

/**
 * Removes a host entirely: highway's containers (with `env`, through `highway down` as a user would),
 * every other container, the engine and its containerd and shims, mounts, data, the namespace and its
 * veth pair. Never throws; what it could not remove is logged.
 */
export async function stopHost(host: NetnsHost, env?: NodeJS.ProcessEnv): Promise<void> {
  if (existsSync(host.socket) && (await engineAnswers(host))) {
    if (env && existsSync(host.nsPath)) {
      const down = await highwayOn(host, ['down'], env, {timeout: 60_000})
      if (down.code !== 0) log(host, `highway down: ${down.stderr.trim()}`)
    }
    const ids = (await attempt(host, 'docker ps', 'docker', ['-H', host.dockerHost, 'ps', '-aq'])).stdout.trim()
    if (ids) await attempt(host, 'docker rm', 'docker', ['-H', host.dockerHost, 'rm', '-f', ...ids.split('\n')])
  }
  let pid = 0
  try {
    pid = Number(readFileSync(host.pidfile, 'utf8').trim())
  } catch {
    // not started, or already gone
  }
  if (pid > 1 && pidAlive(pid) && cmdline(pid).includes(host.execRoot)) {
    log(host, `stopping dockerd ${pid}`)
    process.kill(pid, 'SIGTERM')
    if (!(await waitGone([pid], 20_000))) {
      log(host, `dockerd ${pid} ignored SIGTERM for 20 s; SIGKILL`)
      process.kill(pid, 'SIGKILL')
      await waitGone([pid], 5000)
    }
  }
  const leftovers = enginePids(host)
  if (leftovers.length > 0) {
    log(host, `stopping containerd/shims left behind: ${leftovers.join(' ')}`)
    for (const leftover of leftovers) {
      try {
        process.kill(leftover, 'SIGKILL')
      } catch {
        // exited meanwhile
      }
    }
    await waitGone(leftovers, 5000)
  }
  for (const target of mountsUnder(host.dataRoot, host.execRoot)) await attempt(host, `umount ${target}`, 'umount', ['-l', target])
  const stillMounted = mountsUnder(host.dataRoot, host.execRoot)
  if (stillMounted.length > 0) {
    log(host, `not removing data: still mounted ${stillMounted.join(' ')}`)
  } else {
    for (const path of [host.dataRoot, host.execRoot, host.socket, host.pidfile]) rmSync(path, {force: true, recursive: true})
  }
  removeCgroups(host)
  // The peer on the switch goes with its pair; with the switch gone, the pair is still in the host's namespace.
  if (existsSync(host.nsPath)) await attempt(host, 'netns', 'ip', ['netns', 'del', host.ns])
}
