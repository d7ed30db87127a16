// The recovery paths users rely on without seeing them, end to end: keep-alive clients through
// route changes, a live agent losing its etcd lease, and containers that die without `docker stop`.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {HOSTS, parseServiceKey} from '../../src/registry/schema.js'
import type {ServiceRow} from '../../src/service/list.js'
import {
  APP_IMAGE,
  clearOfReconcile,
  curl,
  docker,
  downPurged,
  etcdAs,
  highway,
  infraImage,
  makeEnv,
  reloadCount,
  serve,
  sleep,
  until,
  upFresh,
} from './harness.js'
import {startLoad} from '../support/load-clients.mjs'
import {wrk} from './wrk.js'

const env = makeEnv()
let ip: string

/** Limit for what takes milliseconds when it works: it only catches a hang (docs/benchmarks.md has the figures). */
const HANG_MS = 10_000

async function ls(): Promise<ServiceRow[]> {
  const result = await highway(['ls', '--json'], env)
  expect(result.code, result.stderr).toBe(0)
  return JSON.parse(result.stdout) as ServiceRow[]
}

async function through(name: string, seconds = 1): Promise<{status: number; body: string; headers: string}> {
  return curl(`http://${ip}/`, {Host: `${name}.local`}, ['-m', String(seconds)])
}

async function runService(name: string, image: string, command: string[]): Promise<void> {
  const result = await highway(['run', '-d', '--name', name, '-p', '9090', image, ...command], env)
  expect(result.code, result.stderr).toBe(0)
}

beforeAll(async () => {
  ip = await upFresh(env)
})

afterAll(async () => {
  await downPurged(env)
})

// ---- keep-alive clients through route changes-----------------------------------------------------

describe('keep-alive clients while other services start and stop', () => {
  it('lose no request and see no reset while routes change, with no reload at all', async () => {
    // A keep-alive backend (busybox httpd closes every connection), as in bench/reload.mjs.
    const node = "const s=require('http').createServer((q,r)=>r.end('steady'));s.keepAliveTimeout=120000;s.headersTimeout=121000;s.listen(9090)"
    await runService('steady', await infraImage(), ['node', '-e', node])
    await until('steady routed', async () => ((await through('steady')).body === 'steady' ? true : undefined), HANG_MS, 50)

    const reloadsBefore = await reloadCount()
    const loop = startLoad({address: ip, clients: 1, host: 'steady.local', mode: 'keep-alive'})
    const load = wrk(ip, 'steady.local', 8)
    // Each start and each removal changes the routes, through the runtime API.
    const churn = ['churn0', 'churn1', 'churn2', 'churn3', 'churn4', 'churn5']
    try {
      for (const [index, name] of churn.entries()) {
        await runService(name, APP_IMAGE, serve(name))
        if (index > 0) await docker('rm', '-f', churn[index - 1])
      }
      await docker('rm', '-f', churn.at(-1)!)
      await until('churn5 gone', async () => ((await through('churn5')).status === 404 ? true : undefined), HANG_MS, 50)
    } finally {
      load.stop()
    }
    const [looped, loaded] = await Promise.all([loop.stop(), load.done])
    const reloads = (await reloadCount()) - reloadsBefore

    console.log(
      `keep-alive loop: ${looped.sent} requests on ${looped.connections} connections, ${looped.failed} failed; ` +
        `wrk: ${loaded.requests} requests, errors ${JSON.stringify(loaded.errors)}; HAProxy reloads: ${reloads}`,
    )
    // Every route change went to the running worker: not one reload, so no connection was handed over.
    expect(reloads).toBe(0)
    // The clients really held their connections: several requests per connection.
    expect(looped.connections).toBeGreaterThan(0)
    expect(looped.sent).toBeGreaterThan(looped.connections * 2)
    expect(loaded.requests).toBeGreaterThan(0)
    expect(looped.failures).toEqual([])
    expect(looped.ok).toBe(looped.sent)
    expect(loaded.errors).toEqual({connect: 0, read: 0, status: 0, timeout: 0, write: 0})
    await docker('rm', '-f', 'steady')
  })
})

// ---- containers that die without docker stop ----------------------------------------------------

/** Waits for highway's own 503 ("stopped"), then checks that etcd says so too, at that very moment. */
async function expectStopped(name: string): Promise<void> {
  const stopped = await until(
    `${name}: highway's 503`,
    async () => {
      // A short client timeout: a request racing the death waits in HAProxy's connect retries.
      const answer = await through(name, 0.2)
      return answer.status === 503 && /^x-highway: stopped/im.test(answer.headers) ? answer : undefined
    },
    HANG_MS,
    5,
  )
  expect(stopped.value.body).toContain('not running')
  // Read once, not polled: HAProxy's health check alone would turn the route into this 503 within
  // seconds, so only the record says the agent saw the `die` (the periodic reconcile is kept away).
  const row = (await ls()).find((entry) => entry.name === name)
  expect(row).toMatchObject({problem: null, state: 'stopped'})
  console.log(`${name}: highway's 503 ${stopped.ms} ms after docker returned`)
}

async function expectRoutedAgain(name: string, body: string): Promise<void> {
  await docker('start', name)
  const routed = await until(
    `${name} routed after docker start`,
    async () => {
      const answer = await through(name, 0.5)
      return answer.status === 200 ? answer.body.trim() : undefined
    },
    HANG_MS,
    5,
  )
  expect(routed.value).toBe(body)
  expect((await ls()).find((entry) => entry.name === name)).toMatchObject({problem: null, state: 'running'})
  console.log(`${name}: routed ${routed.ms} ms after docker start returned`)
}

describe('a container that dies without docker stop (a `die` event, no `stop`)', () => {
  it('answers 503 once its process exits on its own, and routes again after docker start', async () => {
    // httpd without -f forks into the background; the shell is PID 1 and exits (code 3) once told to.
    // Each start says `run` first: the file outlives the process, and a `docker start` must not exit at once.
    const script =
      'echo run > /state && mkdir -p /www && echo hello-quitter > /www/index.html && httpd -p 9090 -h /www && ' +
      'while [ "$(cat /state)" = run ]; do sleep 0.05; done; exit 3'
    await runService('quitter', APP_IMAGE, ['sh', '-c', script])
    expect((await through('quitter')).body.trim()).toBe('hello-quitter')
    await clearOfReconcile(env, 0, HANG_MS + 2000)
    await docker('exec', 'quitter', 'sh', '-c', 'echo quit > /state')
    await expectStopped('quitter')
    expect(await docker('inspect', 'quitter', '--format', '{{.State.ExitCode}}')).toBe('3')
    await expectRoutedAgain('quitter', 'hello-quitter')
    await docker('rm', '-f', 'quitter')
  })

  it('answers 503 once it is hit by docker kill, and routes again after docker start', async () => {
    await runService('victim', APP_IMAGE, serve('hello-victim'))
    expect((await through('victim')).body.trim()).toBe('hello-victim')
    await clearOfReconcile(env, 0, HANG_MS + 2000)
    await docker('kill', 'victim')
    await expectStopped('victim')
    expect(await docker('inspect', 'victim', '--format', '{{.State.ExitCode}}')).toBe('137')
    await expectRoutedAgain('victim', 'hello-victim')
    await docker('rm', '-f', 'victim')
  })
})

// ---- an app gone inside a running container --------------------------------------------------------

/** HAProxy's own statistics for one server (`show stat` on the running worker), by column name. */
async function serverStat(containerId: string): Promise<Record<string, string>> {
  const script = `const s=require('net').createConnection('/run/highway/master.sock');let o='';s.on('connect',()=>s.end('@1 show stat\\n'));s.on('data',d=>o+=d);s.on('close',()=>process.stdout.write(o));s.on('error',e=>{console.error(e.code);process.exit(1)})`
  const [header, ...rows] = (await docker('exec', 'highway-agent', 'node', '-e', script)).split('\n').filter(Boolean)
  const columns = header.replace(/^# /, '').split(',')
  const row = rows.map((line) => line.split(',')).find((cells) => cells[1] === `c${containerId.slice(0, 12)}`)
  if (!row) throw new Error(`no server c${containerId.slice(0, 12)} in the proxy`)
  return Object.fromEntries(columns.map((column, i) => [column, row[i]]))
}

describe('an app that dies inside a container that keeps running (no Docker event at all)', () => {
  it("is taken out of the proxy by the first request that fails to reach it, not by HAProxy's next periodic check", async () => {
    // httpd in the background, its pid kept; PID 1 sleeps on, so Docker sees nothing when httpd goes.
    const script = 'mkdir -p /www && echo hello-hollow > /www/index.html && { httpd -f -p 9090 -h /www & echo $! > /httpd.pid; } && exec sleep 3600'
    await runService('hollow', APP_IMAGE, ['sh', '-c', script])
    expect((await through('hollow')).body.trim()).toBe('hello-hollow')
    const id = await docker('inspect', 'hollow', '--format', '{{.Id}}')
    // A new server is UP at once, and fully so ("UP", not "UP 1/2") once its first check has passed.
    const up = await until('the server fully up in HAProxy', async () => {
      const stat = await serverStat(id)
      return stat.status === 'UP' ? stat : undefined
    })
    // Empty where nothing observes the requests (no `observe`): none counted either way.
    const counted = (stat: Record<string, string>) => Number(stat.hanafail || '0')
    expect(counted(up.value)).toBe(0)

    await docker('exec', 'hollow', 'sh', '-c', 'kill $(cat /httpd.pid)')
    // HAProxy's retries have nowhere else to go: highway's own 503 page, not a hang or a reset.
    const answer = await through('hollow', 5)
    expect(answer.status).toBe(503)
    expect(answer.headers).toMatch(/^x-highway: stopped/im)
    // The failed connects were counted as failed checks (`observe layer4`: HAProxy's "hanafail"), which
    // is what took the server down; a periodic check would have left that count at 0.
    const down = await until('the server down in HAProxy', async () => {
      const stat = await serverStat(id)
      return stat.status === 'DOWN' ? stat : undefined
    })
    expect(counted(down.value)).toBeGreaterThanOrEqual(1)
    expect(await docker('inspect', 'hollow', '--format', '{{.State.Running}}')).toBe('true')
    console.log(`hollow: DOWN in HAProxy ${down.ms} ms after the failed request returned (check status ${down.value.check_status})`)
    await docker('rm', '-f', 'hollow')
  })
})

// ---- etcd away for longer than the lease ---------------------------------------------------------

/** etcd's own view, as this host's identity: the leases holding the records of `name`. */
async function recordLeases(name: string): Promise<string[]> {
  const etcd = etcdAs(env)
  try {
    const {kvs} = await etcd.getAll().prefix(HOSTS).exec()
    return kvs.filter((kv) => parseServiceKey(kv.key.toString())?.name === name).map((kv) => kv.lease)
  } finally {
    etcd.close()
  }
}

interface AgentStatus {
  agent: {etcdConnected: boolean; dockerConnected: boolean} | null
  components: Array<{component: string; health: string}>
}

describe('etcd away for longer than the lease TTL', () => {
  /** Past the agent's 10 s lease TTL, so etcd itself expires the lease when it runs again. */
  const PAUSE_MS = 13_000
  /**
   * Only catches a hang. The record is back within milliseconds when the agent's connection to etcd
   * survived the pause, within ~6 s when gRPC's keepalive dropped it meanwhile (etcd3's circuit
   * breaker then waits 5 s before trying etcd again).
   */
  const RETURN_MS = 20_000

  it('brings the record and the route back without touching the container, and the agent reports etcd connected', async () => {
    await runService('survivor', APP_IMAGE, serve('hello-survivor'))
    const container = async () => docker('inspect', 'survivor', '--format', '{{.Id}} {{.State.StartedAt}} {{.RestartCount}} {{.State.Running}}')
    const before = await container()
    const [leaseBefore] = await recordLeases('survivor')
    expect(leaseBefore).toMatch(/^[1-9]\d*$/)

    await clearOfReconcile(env, PAUSE_MS, RETURN_MS + 2000)
    // Frozen, not stopped: a restarted etcd renews every lease, a paused one expires them as time ran on.
    await docker('pause', 'highway-etcd')
    try {
      await sleep(PAUSE_MS - 2000)
      // The proxy keeps its routes while the registry is away.
      expect((await through('survivor')).body.trim()).toBe('hello-survivor')
      await sleep(2000)
    } finally {
      await docker('unpause', 'highway-etcd')
    }

    // The lease the record had is gone; the record is back under a new one, put by the agent alone.
    const back = await until(
      'survivor record under a new lease',
      async () => {
        const leases = await recordLeases('survivor')
        return leases.length === 1 && leases[0] !== leaseBefore ? leases[0] : undefined
      },
      RETURN_MS,
      50,
    )
    expect(back.value).toMatch(/^[1-9]\d*$/)
    console.log(`survivor: record back under a new lease ${back.ms} ms after docker unpause returned`)
    await until('survivor routed', async () => ((await through('survivor')).body.trim() === 'hello-survivor' ? true : undefined), HANG_MS, 50)
    expect((await ls()).find((entry) => entry.name === 'survivor')).toMatchObject({problem: null, state: 'running'})
    expect(await container()).toBe(before)

    const status = await until(
      'agent reports etcd connected',
      async () => {
        const result = await highway(['status', '--json'], env)
        const parsed = JSON.parse(result.stdout) as AgentStatus
        return parsed.agent?.etcdConnected ? parsed : undefined
      },
      // The agent reports every 5 s, and its first report after the outage still says disconnected.
      20_000,
      500,
    )
    expect(status.value.agent).toMatchObject({dockerConnected: true, etcdConnected: true})
    expect(status.value.components.find((component) => component.component === 'etcd')?.health).toBe('healthy')
    await docker('rm', '-f', 'survivor')
  })
})
