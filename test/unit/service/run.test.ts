// runService's exit codes, with real processes: a stand-in `docker` executable (a shell script first on
// PATH) exits with a chosen code, dies of a signal, or answers a signal the way a test asks; and a
// local HTTP server answers the proxy probe as highway's proxy does for an unknown name. The real
// docker CLI and proxy are covered end to end in test/e2e/routing.e2e.test.ts.
import {chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'
import {runService} from '../../../src/service/run.js'

let proxy: Server
let proxyPort: number
let probes = 0
const dirs: string[] = []

beforeAll(async () => {
  // What highway's proxy answers for a name nobody registered.
  proxy = createServer((_request, response) => {
    probes++
    response.writeHead(404, {'x-highway': 'not-found'}).end('no such service')
  })
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  proxyPort = (proxy.address() as AddressInfo).port
})

afterAll(() => new Promise<void>((resolve) => proxy.close(() => resolve())))

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, {force: true, recursive: true})
})

/**
 * A directory holding a `docker` script with `body` and a settings file saying highway is up on
 * 127.0.0.1. The script writes its arguments to `argv`; `$D` in `body` is the directory.
 */
function fakeDocker(body: string): {dir: string; env: NodeJS.ProcessEnv} {
  const dir = mkdtempSync(join(tmpdir(), 'highway-run-test-'))
  dirs.push(dir)
  const script = join(dir, 'docker')
  writeFileSync(script, `#!/bin/sh\nD='${dir}'\nprintf '%s\\n' "$@" > "$D/argv"\n${body}\n`)
  chmodSync(script, 0o755)
  writeFileSync(join(dir, 'settings.json'), JSON.stringify({bridgeIp: '127.0.0.1', domain: 'local'}))
  return {dir, env: {...process.env, HIGHWAY_CONFIG_DIR: dir, PATH: `${dir}:${process.env.PATH}`}}
}

function run(argv: string[], env: NodeJS.ProcessEnv, stderr: string[] = []): Promise<number> {
  return runService(argv, {env, proxyPort, stderr: (line) => stderr.push(line)})
}

async function until(path: string): Promise<void> {
  const start = Date.now()
  while (!existsSync(path)) {
    if (Date.now() - start > 10_000) throw new Error(`${path} never appeared`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/**
 * Says it is ready (its traps are set), then lives until the test creates `stop`, or about 10 s
 * have passed: a script orphaned by a test run that died must not live on.
 */
const LIVE_UNTIL_STOP = 'touch "$D/started"\nn=0\nwhile [ ! -e "$D/stop" ] && [ $n -lt 500 ]; do sleep 0.02; n=$((n + 1)); done'

describe('runService in the foreground', () => {
  it.each([0, 1, 7, 125])('returns the exit code %i of docker run', async (code) => {
    const {dir, env} = fakeDocker(`exit ${code}`)
    expect(await run(['--rm', 'busybox', 'sh', '-c', `exit ${code}`], env)).toBe(code)
    // It ran docker run itself, with highway's --dns, and asked the proxy first (highway is up).
    expect(readFileSync(join(dir, 'argv'), 'utf8').split('\n').slice(0, 4)).toEqual(['run', '--dns', '127.0.0.1', '--rm'])
  })

  it.each([130, 137, 143])("passes on docker's %i for a container ended by a signal (128 + its number)", async (code) => {
    const {env} = fakeDocker(`exit ${code}`)
    expect(await run(['--rm', 'busybox', 'sleep', '60'], env)).toBe(code)
  })

  it.each([
    ['TERM', 143],
    ['KILL', 137],
    ['HUP', 129],
  ])('returns 128 + the signal when the docker CLI itself is ended by SIG%s', async (signal, code) => {
    const {env} = fakeDocker(`kill -${signal} $$`)
    expect(await run(['--rm', 'busybox', 'true'], env)).toBe(code)
  })

  it("passes a SIGTERM on to docker and returns docker's own answer to it", async () => {
    const {dir, env} = fakeDocker(`trap 'echo TERM >> "$D/signals"; exit 42' TERM\n${LIVE_UNTIL_STOP}\nexit 5`)
    const exit = run(['--rm', 'busybox', 'sleep', '60'], env)
    await until(join(dir, 'started'))
    // A real signal to this process (vitest's default 'forks' pool gives each file a process of its
    // own): runService's handler is what keeps it alive and passes the signal on.
    process.kill(process.pid, 'SIGTERM')
    expect(await exit).toBe(42)
    expect(readFileSync(join(dir, 'signals'), 'utf8')).toBe('TERM\n')
  })

  it('outlives a SIGINT without passing it on (the terminal sends Ctrl-C to docker too), then returns docker exit code', async () => {
    const {dir, env} = fakeDocker(`trap 'echo INT >> "$D/signals"' INT\n${LIVE_UNTIL_STOP}\nexit 5`)
    const exit = run(['--rm', 'busybox', 'sleep', '60'], env)
    await until(join(dir, 'started'))
    process.kill(process.pid, 'SIGINT')
    // Give the signal time to arrive: had runService passed it on, the script would have logged it.
    await new Promise((resolve) => setTimeout(resolve, 200))
    writeFileSync(join(dir, 'stop'), '')
    expect(await exit).toBe(5)
    expect(existsSync(join(dir, 'signals'))).toBe(false)
  })

  it('leaves no signal handler behind once docker has exited', async () => {
    const before = [process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')]
    const {env} = fakeDocker('exit 3')
    expect(await run(['--rm', 'busybox', 'true'], env)).toBe(3)
    expect([process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')]).toEqual(before)
  })
})

describe('runService detached', () => {
  it('returns the exit code of a failed docker run -d at once, without waiting for a route', async () => {
    const {env} = fakeDocker('exit 125')
    probes = 0
    expect(await run(['-d', '--name', 'api', '-p', '9090', 'busybox', 'httpd'], env)).toBe(125)
    // Only the probe before docker run: nothing polled for a route that cannot come.
    expect(probes).toBe(1)
  })
})

describe('runService before docker: a request for the name that fails', () => {
  /** A proxy that cuts the connection of the first `failures` requests for api.local; highway's 404 otherwise. */
  async function flakyProxy(failures: number): Promise<{server: Server; port: number; asked: string[]}> {
    const asked: string[] = []
    const server = createServer((request, response) => {
      const host = request.headers.host ?? ''
      asked.push(host)
      if (host === 'api.local' && asked.filter((name) => name === host).length <= failures) return request.socket.destroy()
      response.writeHead(404, {'x-highway': 'not-found'}).end('no such service')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return {asked, port: (server.address() as AddressInfo).port, server}
  }

  it('asks again once highway answers its probe: a connection lost once does not make a free name taken', async () => {
    const flaky = await flakyProxy(1)
    try {
      const {dir, env} = fakeDocker('exit 0')
      expect(await runService(['--rm', '--name', 'api', '-p', '9090', 'busybox', 'httpd'], {env, proxyPort: flaky.port, stderr: () => {}})).toBe(0)
      expect(flaky.asked).toEqual(['api.local', 'highway-probe.invalid', 'api.local'])
      expect(existsSync(join(dir, 'argv'))).toBe(true)
    } finally {
      flaky.server.close()
    }
  })

  it('refuses the name when its request fails twice while highway answers (routed to a container that does not answer)', async () => {
    const flaky = await flakyProxy(2)
    try {
      const {dir, env} = fakeDocker('exit 0')
      await expect(runService(['--rm', '--name', 'api', '-p', '9090', 'busybox', 'httpd'], {env, proxyPort: flaky.port, stderr: () => {}})).rejects.toThrow(
        'the name "api" is already registered to a running container',
      )
      expect(existsSync(join(dir, 'argv'))).toBe(false)
    } finally {
      flaky.server.close()
    }
  })
})
