/**
 * Shared helpers for the end-to-end suite: run the built CLI as a user would, drive the real Docker
 * engine with its own CLI, and build the tiny application image the tests route to.
 */
import {execFile, spawn} from 'node:child_process'
import {mkdtempSync, mkdirSync, copyFileSync, symlinkSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {promisify} from 'node:util'

export const ROOT = resolve(import.meta.dirname, '..', '..')
export const BIN = join(ROOT, 'bin', 'run.js')
/** A 2 MB image: busybox httpd as the server, wget and nslookup as clients inside containers. */
export const APP_IMAGE = 'highway-test/busybox:1'

const exec = promisify(execFile)

export interface Result {
  code: number
  stdout: string
  stderr: string
}

export function run(command: string, args: string[], options: {env?: NodeJS.ProcessEnv; input?: string; timeout?: number} = {}): Promise<Result> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeout ?? 180_000)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolvePromise({code: code ?? (signal ? 128 : 1), stdout, stderr})
    })
    child.stdin.end(options.input ?? '')
  })
}

/** An isolated config directory per suite, so settings never leak between suites or into ~/.config. */
export function makeEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const dir = mkdtempSync(join(tmpdir(), 'highway-e2e-'))
  return {...process.env, HIGHWAY_CONFIG_DIR: dir, NO_COLOR: '1', ...extra}
}

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

export async function bridgeIp(): Promise<string> {
  return docker('network', 'inspect', 'bridge', '--format', '{{(index .IPAM.Config 0).Gateway}}')
}

/** Builds APP_IMAGE from the host's busybox-static binary (there is no registry to pull from). */
export async function ensureAppImage(): Promise<void> {
  const present = await dockerResult('image', 'inspect', APP_IMAGE)
  if (present.code === 0) return
  const dir = mkdtempSync(join(tmpdir(), 'highway-app-'))
  try {
    mkdirSync(join(dir, 'bin'))
    mkdirSync(join(dir, 'www'))
    mkdirSync(join(dir, 'tmp'))
    copyFileSync('/bin/busybox', join(dir, 'bin', 'busybox'))
    for (const applet of ['sh', 'httpd', 'wget', 'nslookup', 'timeout', 'echo', 'cat', 'sleep', 'env', 'printf', 'mkdir', 'hostname', 'ls', 'kill']) {
      symlinkSync('busybox', join(dir, 'bin', applet))
    }
    const tar = await run('sh', ['-c', `tar -C ${dir} -c . | docker import -c 'ENV PATH=/bin' - ${APP_IMAGE}`])
    if (tar.code !== 0) throw new Error(`building ${APP_IMAGE} failed: ${tar.stderr}`)
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}

/** A command line for APP_IMAGE that serves `text` over HTTP on `port`. */
export function serve(text: string, port = 9090): string[] {
  return ['sh', '-c', `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p ${port} -h /www`]
}

export async function dig(name: string, server: string, type = 'A'): Promise<string[]> {
  const {stdout} = await exec('dig', [`@${server}`, '+short', '+time=2', '+tries=1', name, type])
  return stdout.trim().split('\n').filter(Boolean)
}

export async function curl(url: string, headers: Record<string, string> = {}, extra: string[] = []): Promise<{status: number; body: string; headers: string}> {
  const args = ['-s', '-m', '5', '-D', '-', ...Object.entries(headers).flatMap(([key, value]) => ['-H', `${key}: ${value}`]), ...extra, url]
  const result = await run('curl', args)
  const [head, ...rest] = result.stdout.split('\r\n\r\n')
  const status = Number(/^HTTP\/\S+ (\d+)/.exec(head)?.[1] ?? 0)
  return {status, body: rest.join('\r\n\r\n'), headers: head}
}
