// TCP by name (issue 12), end to end with real redis servers and clients from Debian's packages: two
// servers on one port, each by its own name, from the host (through highway's DNS) and from a
// container; HTTP as before; a long session across churn; a stopped service refused at once.
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {ensureRedisImage, openRedis, redisServer} from '../../bench/lib/redis.mjs'
import {APP_IMAGE, curl, docker, dockerResult, downPurged, highway, makeEnv, ownAddress, serve, until, upFresh} from './harness.js'

const env = makeEnv()
let ip: string
let redis: string
/** A resolv.conf naming highway's DNS alone, mounted into host-network clients: the host's view after `dns-setup`. */
let resolvConf: string

/** Limit for what takes milliseconds when it works: it only catches a hang. */
const HANG_MS = 10_000

async function run(args: string[]): Promise<void> {
  const result = await highway(['run', '-d', ...args], env)
  expect(result.code, result.stderr).toBe(0)
}

/** A shell on the host's own network stack, resolving through highway's DNS (as `dns-setup` leaves the host). */
async function onHost(script: string): Promise<string> {
  const result = await dockerResult('run', '--rm', '--network', 'host', '-v', `${resolvConf}:/etc/resolv.conf:ro`, redis, 'sh', '-c', script)
  if (result.code !== 0) throw new Error(`exit ${result.code}: ${result.stderr.trim()}`)
  return result.stdout.trim()
}

/** A shell in a container started by `highway run` (which gives it highway's DNS). */
async function inContainer(script: string, image = redis): Promise<string> {
  const result = await highway(['run', '--rm', image, 'sh', '-c', script], env, {timeout: 60_000})
  if (result.code !== 0) throw new Error(`exit ${result.code}: ${result.stderr.trim()}`)
  return result.stdout.trim()
}

/** The name's own address: the forwarder writes it for dnsmasq once it listens, which may be after the HTTP route is live. */
async function addressOf(name: string): Promise<string> {
  return ownAddress(`${name}.local`, ip)
}

beforeAll(async () => {
  ip = await upFresh(env)
  redis = await ensureRedisImage()
  resolvConf = join(mkdtempSync(join(tmpdir(), 'highway-tcp-')), 'resolv.conf')
  writeFileSync(resolvConf, `nameserver ${ip}\n`)
  await run(['--name', 'cache-a', '-p', '6379', redis, ...redisServer()])
  await run(['--name', 'cache-b', '-p', '6379', redis, ...redisServer()])
  await until(
    'both redis servers answering by name from the host',
    async () => ((await onHost('redis-cli -h cache-a.local PING && redis-cli -h cache-b.local PING')) === 'PONG\nPONG' ? true : undefined),
    HANG_MS,
  )
}, 600_000)

afterAll(async () => {
  await downPurged(env)
})

describe('two redis servers on port 6379', () => {
  it('each gets an address of its own from highway’s range, answered by DNS', async () => {
    const a = await addressOf('cache-a')
    const b = await addressOf('cache-b')
    expect(a).not.toBe(b)
  })

  it('are each reached by name from the host, through highway’s DNS', async () => {
    await onHost('redis-cli -h cache-a.local SET who a && redis-cli -h cache-b.local SET who b')
    expect(await onHost('redis-cli -h cache-a.local GET who; redis-cli -h cache-b.local GET who')).toBe('a\nb')
  })

  it('are each reached by name from a container started by highway run, with redis-cli and netcat', async () => {
    expect(await inContainer('redis-cli -h cache-a.local GET who; redis-cli -h cache-b.local GET who')).toBe('a\nb')
    expect(await inContainer('printf "PING\\r\\nQUIT\\r\\n" | nc -w 5 cache-b.local 6379')).toBe('+PONG\r\n+OK')
  })

  it('show their TCP addresses in ls', async () => {
    const ls = await highway(['ls', '--json'], env)
    expect(ls.code, ls.stderr).toBe(0)
    const rows = JSON.parse(ls.stdout) as Array<{name: string; tcp: string[]}>
    expect(rows.filter((row) => row.name.startsWith('cache-')).map((row) => [row.name, row.tcp])).toEqual([
      ['cache-a', ['cache-a.local:6379']],
      ['cache-b', ['cache-b.local:6379']],
    ])
  })
})

describe('HTTP by name', () => {
  it('works as before on the bridge address, and the address DNS gives a name answers HTTP the same way', async () => {
    await run(['--name', 'web', '-p', '9090', APP_IMAGE, ...serve('hello-web')])
    expect((await curl(`http://${ip}/`, {Host: 'web.local'})).body.trim()).toBe('hello-web')
    const address = await addressOf('web')
    await until(
      'web on its own address',
      async () => ((await curl(`http://${address}/`, {Host: 'web.local'})).body.trim() === 'hello-web' ? true : undefined),
      HANG_MS,
    )
    // Routed by Host header there too: highway's own pages, not a blind pipe to one service.
    const unknown = await curl(`http://${address}/`, {Host: 'nope.local'})
    expect([unknown.status, /x-highway: not-found/i.test(unknown.headers)]).toEqual([404, true])
    // Its published port by raw TCP as well.
    expect((await curl(`http://${address}:9090/`)).body.trim()).toBe('hello-web')
    expect(await inContainer('wget -qO- http://web.local/', APP_IMAGE)).toBe('hello-web')
  })
})

describe('a long TCP session', () => {
  it('stays open, answering every command, while other services start, stop, join and leave', async () => {
    const session = await openRedis({address: await addressOf('cache-a')})
    expect(await session.command('SET', 'session', 'held')).toBe('OK')
    const step = async (what: string, change: () => Promise<unknown>) => {
      await change()
      expect(await session.command('ECHO', what), what).toBe(what)
    }
    for (let round = 0; round < 2; round++) {
      const name = `churn${round}`
      await step(`${name} started`, () => run(['--name', name, '-p', '6380', redis, ...redisServer(6380)]))
      await step(`${name}-http started`, () => run(['--name', `${name}-http`, '-p', '9090', APP_IMAGE, ...serve(name)]))
      await step(`cache-a-2 joined`, () => run(['--name', 'cache-a-2', '--replica-of', 'cache-a', '-p', '6379', redis, ...redisServer()]))
      await step(`${name} stopped`, () => docker('stop', '-t', '0', name))
      await step(`cache-a-2 removed`, () => docker('rm', '-f', 'cache-a-2'))
      await step(`${name} removed`, () => docker('rm', '-f', name, `${name}-http`))
    }
    expect(await session.command('GET', 'session')).toBe('held')
    expect(session.open()).toBe(true)
    session.close()
  })
})

describe('a stopped service', () => {
  it('refuses a TCP connect at once instead of hanging, and is reached at the same address once started again', async () => {
    const address = await addressOf('cache-b')
    await docker('stop', '-t', '1', 'cache-b')
    const refused = await until(
      'a refused connect to the stopped cache-b',
      () =>
        openRedis({address, timeoutMs: HANG_MS}).then(
          (client) => (client.close(), undefined),
          (error: NodeJS.ErrnoException) => error.code,
        ),
      HANG_MS,
    )
    expect(refused.value).toBe('ECONNREFUSED')
    // The name keeps its address while it has a record: a client that resolved it before reconnects there.
    expect(await addressOf('cache-b')).toBe(address)
    await docker('start', 'cache-b')
    await until('cache-b answering again', async () => ((await onHost('redis-cli -h cache-b.local PING')) === 'PONG' ? true : undefined), HANG_MS)
  })
})

describe('the forwarder', () => {
  it('runs with NET_BIND_SERVICE alone, holding no credential, while its shell keeps NET_ADMIN for the route', async () => {
    // The kernel's own view of each process in the container: name and capability sets.
    const status = await docker(
      'exec',
      'highway-tcp',
      'sh',
      '-c',
      'for s in /proc/[0-9]*/status; do grep -E "^(Name|CapPrm|CapEff|CapBnd|NoNewPrivs):" "$s" | tr "\\n" " "; echo; done',
    )
    const processes = status
      .split('\n')
      .filter(Boolean)
      .map((line) => Object.fromEntries([...line.matchAll(/(\w+):\s+(\S+)/g)].map((match) => [match[1], match[2]])))
    const node = processes.find((process) => process.Name === 'node')
    // Bit 10: CAP_NET_BIND_SERVICE, and nothing else, in every set.
    expect(node).toMatchObject({CapBnd: '0000000000000400', CapEff: '0000000000000400', CapPrm: '0000000000000400', NoNewPrivs: '1'})
    const shell = processes.find((process) => process.Name === 'sh')
    // NET_ADMIN (12), NET_BIND_SERVICE (10), SETPCAP (8).
    expect(shell?.CapEff).toBe('0000000000001500')
    const environment = await docker('exec', 'highway-tcp', 'sh', '-c', 'tr "\\0" "\\n" < /proc/1/environ')
    expect(environment).not.toMatch(/HIGHWAY_ETCD|BEGIN|docker\.sock/)
    const mounts = await docker('inspect', 'highway-tcp', '--format', '{{range .Mounts}}{{.Destination}}:{{.RW}} {{end}}')
    expect(mounts.trim().split(' ').sort()).toEqual(['/run/highway-names:true', '/run/highway:false'])
  })
})
