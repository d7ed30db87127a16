// highway run, the route agent and highway ls, end to end: real containers reached by name through
// the real proxy and DNS, from the host (curl) and from other containers (busybox wget).
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {ServiceRow} from '../../src/service/list.js'
import {
  APP_IMAGE,
  bridgeIp,
  curl,
  docker,
  ensureAppImage,
  highway,
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

type Row = ServiceRow

async function ls(): Promise<Row[]> {
  const result = await highway(['ls', '--json'], env)
  expect(result.code, result.stderr).toBe(0)
  return JSON.parse(result.stdout) as Row[]
}

/** One request through the proxy; a short client timeout so a request racing a stop cannot stall a poll loop. */
async function through(name: string, seconds = 5): Promise<{status: number; body: string; headers: string}> {
  return curl(`http://${ip}/`, {Host: `${name}.local`}, ['-m', String(seconds)])
}

/**
 * Long enough to catch a hang, never a speed claim: how fast routes follow Docker is a figure of
 * bench/propagation.mjs (docs/benchmarks.md, section 2), not a pass/fail line here.
 */
const HANG_MS = 15_000

async function runService(name: string, text = `hello-${name}`, extra: string[] = []) {
  const result = await highway(['run', '-d', '--name', name, '-p', '9090', ...extra, APP_IMAGE, ...serve(text)], env)
  expect(result.code, result.stderr).toBe(0)
  return result
}

beforeAll(async () => {
  ip = await bridgeIp()
  await ensureAppImage()
  await removeServices()
  const up = await highway(['up'], env)
  expect(up.code, up.stderr).toBe(0)
})

afterAll(async () => {
  await removeServices()
  await highway(PURGE_KEEPING_IMAGES, env)
})

describe('highway run -d', () => {
  it('routes two services by Host header and returns only once the route is live', async () => {
    const api = await runService('api')
    expect(api.stdout.trim()).toMatch(/^[0-9a-f]{64}$/)
    // No sleep: `run -d` has returned, so the route must already answer.
    expect((await through('api')).body.trim()).toBe('hello-api')
    await runService('web')
    expect((await through('web')).body.trim()).toBe('hello-web')
    expect((await through('api')).body.trim()).toBe('hello-api')
    // A port in the Host header is ignored, and case does not matter.
    expect((await curl(`http://${ip}/`, {Host: 'WEB.local:80'})).body.trim()).toBe('hello-web')
  })

  it('reaches a service through DNS resolution from the host', async () => {
    const address = await ownAddress('api.local', ip)
    expect(address).toMatch(OWN_ADDRESS)
    const answer = await curl('http://api.local/', {}, ['--resolve', `api.local:80:${address}`])
    expect(answer.body.trim()).toBe('hello-api')
  })

  it('reaches a service by name from inside another container started by highway run', async () => {
    const result = await highway(['run', '--rm', APP_IMAGE, 'sh', '-c', 'timeout 5 wget -qO- http://api.local/; exit $?'], env)
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout.trim()).toBe('hello-api')
  })

  it('publishes bare ports on the bridge IP only and adds --dns', async () => {
    const ports = await docker('port', 'api', '9090/tcp')
    expect(ports).toMatch(new RegExp(`^${ip.replaceAll('.', '\\.')}:\\d+$`))
    expect(await docker('inspect', 'api', '--format', '{{json .HostConfig.Dns}}')).toBe(`["${ip}"]`)
  })

  it('lists both services as JSON', async () => {
    const rows = await ls()
    const names = rows.map((row) => row.name)
    expect(names).toEqual(['api', 'web'])
    for (const row of rows) {
      expect(row.state).toBe('running')
      expect(row.problem).toBeNull()
      expect(row.url).toBe(`http://${row.name}.local/`)
      expect(row.backend).toMatch(new RegExp(`^${ip.replaceAll('.', '\\.')}:\\d+$`))
    }
  })

  it('routes containers labelled by hand (docker run --label), not only highway run', async () => {
    await docker('run', '-d', '--name', 'by-hand', '--label', 'io.highway.service=byhand', '-p', `${ip}::9090`, APP_IMAGE, ...serve('hello-hand'))
    const {value} = await until(
      'byhand routed',
      async () => {
        const answer = await through('byhand')
        return answer.status === 200 ? answer.body.trim() : undefined
      },
      HANG_MS,
    )
    expect(value).toBe('hello-hand')
    await docker('rm', '-f', 'by-hand')
  })
})

describe('the route agent keeps routes in step with Docker', () => {
  it("answers highway's 503 once the container is stopped, and routes again on a new port once it is started", async () => {
    const before = (await ls()).find((row) => row.name === 'web')!.backend
    await docker('stop', '-t', '0', 'web')
    // HAProxy's own 503 (connection refused) may come first; the route must turn into highway's page.
    const stopped = await until(
      'highway 503 after stop',
      async () => {
        const answer = await through('web', 1)
        return answer.status === 503 && /x-highway: stopped/i.test(answer.headers) ? answer : undefined
      },
      HANG_MS,
    )
    expect(stopped.value.body).toContain('web.local is registered but none of its containers is running')
    expect((await ls()).find((row) => row.name === 'web')!.state).toBe('stopped')

    await docker('start', 'web')
    const started = await until(
      'routed after start',
      async () => {
        const answer = await through('web', 1)
        return answer.status === 200 ? answer.body.trim() : undefined
      },
      HANG_MS,
    )
    expect(started.value).toBe('hello-web')
    const after = (await ls()).find((row) => row.name === 'web')!.backend
    expect(after).not.toBe(before)
  })

  it('holds traffic back from a container whose health check fails, with a 503 that says so', async () => {
    await runService('sick', 'hello-sick', ['--health-cmd', 'false', '--health-interval', '1s', '--health-retries', '1'])
    const sick = await until(
      'unhealthy 503',
      async () => {
        const answer = await through('sick', 1)
        return /x-highway: unhealthy/i.test(answer.headers) ? answer : undefined
      },
      HANG_MS,
    )
    expect(sick.value.status).toBe(503)
    expect(sick.value.body).toContain('health check fails')
    expect((await ls()).find((row) => row.name === 'sick')?.state).toBe('unhealthy')
    await docker('rm', '-f', 'sick')
  })

  it('drops the record when the container is removed', async () => {
    await docker('rm', '-f', 'web')
    await until('404 after rm', async () => ((await through('web', 1)).status === 404 ? true : undefined), HANG_MS)
    expect((await ls()).map((row) => row.name)).toEqual(['api'])
  })

  it('cleans up a container removed while the agent was down', async () => {
    await runService('ghost')
    await docker('stop', 'highway-agent')
    await docker('rm', '-f', 'ghost')
    const stale = (await ls()).find((row) => row.name === 'ghost')
    expect(stale?.problem).toMatch(/container is gone/)
    await docker('start', 'highway-agent')
    await until('ghost record removed', async () => ((await ls()).some((row) => row.name === 'ghost') ? undefined : true), HANG_MS, 100)
    // The proxy follows the record a moment later (the restarted agent's first update is a reload).
    await until('ghost answers 404', async () => ((await through('ghost')).status === 404 ? true : undefined), HANG_MS, 20)
    expect((await through('api')).body.trim()).toBe('hello-api')
  })

  it('shows the agent in highway status', async () => {
    const result = await highway(['status', '--json'], env)
    const status = JSON.parse(result.stdout) as {agent: {dockerConnected: boolean; etcdConnected: boolean; routes: number; lastReconcileAt: string}}
    expect(status.agent.dockerConnected).toBe(true)
    expect(status.agent.etcdConnected).toBe(true)
    expect(status.agent.routes).toBe(1)
    expect(Date.parse(status.agent.lastReconcileAt)).toBeGreaterThan(Date.now() - 60_000)
  })

  it('routes 20 services started at once', async () => {
    const names = Array.from({length: 20}, (_, index) => `svc${index}`)
    const results = await Promise.all(names.map((name) => highway(['run', '-d', '--name', name, '-p', '9090', APP_IMAGE, ...serve(`hello-${name}`)], env)))
    for (const result of results) expect(result.code, result.stderr).toBe(0)
    for (const name of names) expect((await through(name)).body.trim()).toBe(`hello-${name}`)
    expect((await ls()).length).toBe(21)
    await docker('rm', '-f', ...names)
  })
})

describe('docker run pass-through', () => {
  it('keeps repeated -e in order with their values', async () => {
    const result = await highway(['run', '--rm', '-e', 'X=first', '-e', 'MSG=hello world', '-e', 'X=second', APP_IMAGE, 'sh', '-c', 'echo "$X|$MSG"'], env)
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout.trim()).toBe('second|hello world')
  })

  it('routes a foreground run while it runs, then returns its exit code', async () => {
    // busybox httpd without -f daemonizes inside the container; the shell then keeps it alive until
    // the test has seen the route and says so (a file), so no race against a fixed lifetime.
    const foreground = highway(
      [
        'run',
        '--rm',
        '--name',
        'fg',
        '-p',
        '9090',
        APP_IMAGE,
        'sh',
        '-c',
        'mkdir -p /www && echo hello-fg > /www/index.html && httpd -p 9090 -h /www && until [ -e /tmp/done ]; do sleep 0.1; done',
      ],
      env,
    )
    const routed = await until(
      'foreground service routed',
      async () => {
        const answer = await through('fg', 1)
        return answer.status === 200 ? answer.body.trim() : undefined
      },
      HANG_MS,
    )
    expect(routed.value).toBe('hello-fg')
    await docker('exec', 'fg', 'sh', '-c', ': > /tmp/done')
    const result = await foreground
    expect(result.code, result.stderr).toBe(0)
    await until('fg gone after --rm', async () => ((await through('fg', 1)).status === 404 ? true : undefined), HANG_MS)
  })

  it("returns the container's exit code from a foreground --rm run", async () => {
    const result = await highway(['run', '--rm', APP_IMAGE, 'sh', '-c', 'exit 7'], env)
    expect(result.code).toBe(7)
  })

  it('gives a -d and --help after IMAGE to the container command', async () => {
    const result = await highway(['run', '--rm', APP_IMAGE, 'echo', '-d', '--help'], env)
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout.trim()).toBe('-d --help')
  })
})

describe('bad input', () => {
  it('rejects invalid names and creates nothing', async () => {
    for (const name of ['Bad', 'under_score', '-lead', 'a'.repeat(64)]) {
      const result = await highway(['run', '-d', '--name', name, '-p', '9090', APP_IMAGE, 'true'], env)
      expect(result.code, name).toBe(1)
      expect(result.stderr).toMatch(/^highway: invalid service name/)
      expect(await docker('ps', '-aq', '--filter', `name=^/${name}$`)).toBe('')
    }
  })

  it('rejects a name registered to a running container and creates nothing', async () => {
    await docker('run', '-d', '--name', 'holder', '--label', 'io.highway.service=taken', '-p', `${ip}::9090`, APP_IMAGE, ...serve('holder'))
    await until('taken routed', async () => ((await through('taken')).status === 200 ? true : undefined), HANG_MS)
    const result = await highway(['run', '-d', '--name', 'taken', '-p', '9090', APP_IMAGE, ...serve('x')], env)
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('the name "taken" is already registered to a running container')
    expect(await docker('ps', '-aq', '--filter', 'name=^/taken$')).toBe('')
    await docker('rm', '-f', 'holder')
  })

  it('rejects a -p that is not a port', async () => {
    for (const port of ['abc', '70000', '0']) {
      const result = await highway(['run', '-d', '--name', 'badport', '-p', port, APP_IMAGE, 'true'], env)
      expect(result.code, port).toBe(1)
      expect(result.stderr).toMatch(/invalid port/)
    }
    expect(await docker('ps', '-aq', '--filter', 'name=^/badport$')).toBe('')
  })

  it('says to run highway up first when highway is not up', async () => {
    const fresh = await highway(['run', '-d', '--name', 'early', '-p', '9090', APP_IMAGE, 'true'], makeEnv())
    expect(fresh.code).toBe(1)
    expect(fresh.stderr).toContain('run `highway up` first')
    await highway(['down'], env)
    const afterDown = await highway(['run', '-d', '--name', 'early', '-p', '9090', APP_IMAGE, 'true'], env)
    expect(afterDown.code).toBe(1)
    expect(afterDown.stderr).toContain('run `highway up` first')
    expect(await docker('ps', '-aq', '--filter', 'name=^/early$')).toBe('')
  })
})
