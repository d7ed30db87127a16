/**
 * Shared helpers for the end-to-end suite: run the built CLI as a user would, drive the real Docker
 * engine with its own CLI, and build the tiny application image the tests route to.
 */
import {execFile} from 'node:child_process'
import {Etcd3} from 'etcd3'
import {mkdtempSync, readFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {promisify} from 'node:util'
import {runProcess, type ProcessResult} from '../../src/core/process.js'

export const ROOT = resolve(import.meta.dirname, '..', '..')
export const BIN = join(ROOT, 'bin', 'run.cjs')
/** A 2 MB image: busybox httpd as the server, wget and nslookup as clients inside containers. */
export const APP_IMAGE = 'highway-test/busybox:1'

const exec = promisify(execFile)

export type Result = ProcessResult

/** Runs a command to its end, as highway itself does (core/process.ts), with a generous default deadline. */
export function run(command: string, args: string[], options: {env?: NodeJS.ProcessEnv; input?: string; timeout?: number} = {}): Promise<Result> {
  return runProcess(command, args, {env: options.env, input: options.input, timeoutMs: options.timeout ?? 180_000})
}

/** An isolated config directory per suite, so settings never leak between suites or into ~/.config. */
export function makeEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const dir = mkdtempSync(join(tmpdir(), 'highway-e2e-'))
  return {...process.env, HIGHWAY_CONFIG_DIR: dir, NO_COLOR: '1', ...extra}
}

/**
 * A test file's teardown: highway's containers, volumes and network go (the suite leaves nothing
 * behind, test/e2e/global-setup.ts), its image stays, so the next file's `up` starts without a build.
 */
export const PURGE_KEEPING_IMAGES = ['down', '--purge', '--keep-images']

export function highway(args: string[], env: NodeJS.ProcessEnv, options: {timeout?: number; input?: string} = {}): Promise<Result> {
  return run(process.execPath, [BIN, ...args], {env, ...options})
}

export async function docker(...args: string[]): Promise<string> {
  const {stdout} = await exec('docker', args, {maxBuffer: 16 * 1024 * 1024})
  return stdout.trim()
}

export async function dockerResult(...args: string[]): Promise<Result> {
  return run('docker', args)
}

/** The docker0 address, read from the kernel rather than from highway's own detection. */
export async function bridgeIp(): Promise<string> {
  const {stdout} = await exec('ip', ['-4', '-o', 'addr', 'show', 'docker0'])
  const address = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(stdout)?.[1]
  if (!address) throw new Error(`no IPv4 address on docker0: ${stdout}`)
  return address
}

/** Builds APP_IMAGE with the same script the README's demo uses (there is no registry to pull from). */
export async function ensureAppImage(): Promise<void> {
  const built = await run('bash', [join(ROOT, 'scripts', 'demo-image.sh'), APP_IMAGE])
  if (built.code !== 0) throw new Error(`building ${APP_IMAGE} failed: ${built.stderr}`)
}

/** A command line for APP_IMAGE that serves `text` over HTTP on `port`. */
export function serve(text: string, port = 9090): string[] {
  return ['sh', '-c', `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p ${port} -h /www`]
}

export async function dig(name: string, server: string, type = 'A', options: string[] = []): Promise<string[]> {
  const {stdout} = await exec('dig', [`@${server}`, '+short', '+time=2', '+tries=1', ...options, name, type])
  return stdout.trim().split('\n').filter(Boolean)
}

/** The response code dig reports (NOERROR, NXDOMAIN, REFUSED, ...). */
/** An address of highway's default TCP range: what DNS answers for a registered name (its own address, see TCP by name). */
export const OWN_ADDRESS = /^198\.19\.\d{1,3}\.\d{1,3}$/

/**
 * The address DNS at `server` answers for a registered name once the TCP forwarder serves it (a moment
 * after the proxy routes it: until then the name answers the bridge address, which routes it too).
 */
export async function ownAddress(name: string, server: string): Promise<string> {
  const found = await until(`${name} answering an address of its own`, async () => (await dig(name, server)).find((answer) => OWN_ADDRESS.test(answer)))
  return found.value
}

export async function digStatus(name: string, server: string, type = 'A'): Promise<string> {
  const {stdout} = await exec('dig', [`@${server}`, '+time=2', '+tries=1', '+noall', '+comments', name, type])
  return /status: (\w+)/.exec(stdout)?.[1] ?? 'no answer'
}

export async function curl(url: string, headers: Record<string, string> = {}, extra: string[] = []): Promise<{status: number; body: string; headers: string}> {
  const args = ['-s', '-m', '5', '-D', '-', ...Object.entries(headers).flatMap(([key, value]) => ['-H', `${key}: ${value}`]), ...extra, url]
  const result = await run('curl', args)
  const [head, ...rest] = result.stdout.split('\r\n\r\n')
  const status = Number(/^HTTP\/\S+ (\d+)/.exec(head)?.[1] ?? 0)
  return {status, body: rest.join('\r\n\r\n'), headers: head}
}

/** IDs of highway's infrastructure containers, by component. */
export async function infraContainers(): Promise<Record<string, string>> {
  const out = await docker('ps', '-a', '--filter', 'label=io.highway.managed=true', '--format', '{{.Label "io.highway.component"}} {{.ID}}')
  // The managed label comes with highway's image: only `up` gives the component label (a container
  // merely run from that image is not one of highway's).
  return Object.fromEntries(
    out
      .split('\n')
      .map((line) => line.split(' '))
      .filter(([component]) => component),
  )
}

export async function removeServices(): Promise<void> {
  const ids = await docker('ps', '-aq', '--filter', 'label=io.highway.service')
  if (ids) await docker('rm', '-f', ...ids.split('\n'))
}

/** A suite's start: no service containers, highway down, then up with the suite's config dir; resolves to the bridge IP. */
export async function upFresh(env: NodeJS.ProcessEnv): Promise<string> {
  const ip = await bridgeIp()
  await ensureAppImage()
  await removeServices()
  await highway(['down'], env)
  const up = await highway(['up'], env)
  if (up.code !== 0) throw new Error(`highway up failed (exit ${up.code}): ${up.stderr}`)
  return ip
}

/** A suite's end: no service containers, and highway down with its data (see PURGE_KEEPING_IMAGES). */
export async function downPurged(env: NodeJS.ProcessEnv): Promise<void> {
  await removeServices()
  await highway(PURGE_KEEPING_IMAGES, env)
}

export async function until<T>(what: string, attempt: () => Promise<T | undefined>, timeoutMs = 5000, intervalMs = 20): Promise<{value: T; ms: number}> {
  const start = Date.now()
  let last: unknown
  for (;;) {
    try {
      const value = await attempt()
      if (value !== undefined) return {ms: Date.now() - start, value}
    } catch (error) {
      last = error
    }
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (${(last as Error).message})` : ''}`)
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** The image highway's own containers run (it has node, used as a keep-alive backend). */
export async function infraImage(): Promise<string> {
  return docker('inspect', 'highway-proxy', '--format', '{{.Config.Image}}')
}

/** HAProxy's reload counter, from the master CLI (`show proc`), asked inside the agent container, which mounts its socket. */
export async function reloadCount(): Promise<number> {
  const script = `const s=require('net').createConnection('/run/highway/master.sock');let o='';s.on('connect',()=>s.end('show proc\\n'));s.on('data',d=>o+=d);s.on('close',()=>process.stdout.write(o));s.on('error',e=>{console.error(e.code);process.exit(1)})`
  // While the master re-executes itself for a reload, its socket refuses connections for a moment.
  const {value} = await until(
    'HAProxy master CLI',
    async () => {
      const result = await run('docker', ['exec', 'highway-agent', 'node', '-e', script])
      if (result.code !== 0) throw new Error(result.stderr.trim())
      const master = result.stdout.split('\n').find((line) => /\bmaster\b/.test(line))
      return master ? Number(master.trim().split(/\s+/)[2]) : undefined
    },
    10_000,
    100,
  )
  return value
}

/** The agent's full reconcile period (src/agent/agent.ts): a reconcile repairs, late, whatever an event handler missed. */
export const RECONCILE_EVERY_MS = 30_000

/**
 * Waits, when needed, until the span from `fromMs` to `fromMs + clearMs` from now holds none of the
 * agent's periodic reconciles, read from its last one in `highway status`. A test of a fast path
 * (an event handler, the lease re-grant) then fails when that path is broken, instead of passing
 * now and then because a periodic reconcile happened to repair things within the test's limit.
 */
export async function clearOfReconcile(env: NodeJS.ProcessEnv, fromMs: number, clearMs: number): Promise<void> {
  const result = await highway(['status', '--json'], env)
  const last = Date.parse((JSON.parse(result.stdout) as {agent: {lastReconcileAt: string} | null}).agent?.lastReconcileAt ?? '')
  if (Number.isNaN(last)) throw new Error(`no reconcile in the agent's report: ${result.stdout}${result.stderr}`)
  const period = RECONCILE_EVERY_MS
  // From the start of the span to the first reconcile at or after it.
  const gap = (((last - Date.now() - fromMs) % period) + period) % period
  if (gap < clearMs) await sleep(gap + 500)
}

/**
 * An etcd3 client for the etcd `highway up` runs with `env`'s config directory, as one of the
 * identities it keeps (`pki/host.*` or `pki/root.*`): mutual TLS, the server checked by the name in
 * its certificate, as highway's own client does (src/registry/etcd.ts).
 */
export function etcdAs(env: NodeJS.ProcessEnv, who: 'host' | 'root' = 'host'): Etcd3 {
  const pki = (file: string) => readFileSync(join(env.HIGHWAY_CONFIG_DIR!, 'pki', file))
  return new Etcd3({
    credentials: {certChain: pki(`${who}.crt`), privateKey: pki(`${who}.key`), rootCertificate: pki('ca.crt')},
    defaultCallOptions: (context) => (context.isStream ? {} : {deadline: Date.now() + 3000}),
    dialTimeout: 3000,
    grpcOptions: {'grpc.ssl_target_name_override': 'highway-etcd'},
    hosts: 'https://127.0.0.1:2379',
  })
}
