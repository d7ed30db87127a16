// Connections that never notice a change (issue 10), end to end with real clients: a WebSocket held
// open while other services come and go, a replica stopped under load, and the last container of a
// name stopping. Every route change reaches HAProxy through its runtime API: no reload at all.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {echoServerSource, openWebSocket} from '../../bench/lib/websocket.mjs'
import {APP_IMAGE, curl, docker, downPurged, highway, infraImage, makeEnv, reloadCount, serve, until, upFresh} from './harness.js'
import {describeLoad, startLoad, type LoadResult} from '../support/load-clients.mjs'
import {wrk} from './wrk.js'

const env = makeEnv()
let ip: string
let image: string

/** Limit for what takes milliseconds when it works: it only catches a hang (docs/benchmarks.md has the figures). */
const HANG_MS = 10_000

/** A keep-alive HTTP backend answering `body`, which exits at once on SIGTERM: the harshest stop, requests in flight and all. */
const node = (body: string) => [
  'node',
  '-e',
  `const s=require('http').createServer((q,r)=>r.end('${body}'));s.keepAliveTimeout=120000;process.on('SIGTERM',()=>process.exit(0));s.listen(9090)`,
]

async function run(args: string[]): Promise<void> {
  const result = await highway(['run', '-d', ...args], env)
  expect(result.code, result.stderr).toBe(0)
}

const through = (name: string, seconds = 1) => curl(`http://${ip}/`, {Host: `${name}.local`}, ['-m', String(seconds)])

beforeAll(async () => {
  ip = await upFresh(env)
  image = await infraImage()
})

afterAll(async () => {
  await downPurged(env)
})

describe('a WebSocket through the proxy', () => {
  it('stays open, answering every message, while other services start, stop, move, join and leave, with no reload', async () => {
    await run(['--name', 'ws', '-p', '9090', image, 'node', '-e', echoServerSource(9090)])
    const socket = await openWebSocket({address: ip, host: 'ws.local'})
    const reloadsBefore = await reloadCount()
    let changes = 0
    const step = async (what: string, change: () => Promise<unknown>) => {
      await change()
      changes++
      expect(await socket.send(`after ${what}`)).toBe(`after ${what}`)
    }
    for (let round = 0; round < 3; round++) {
      const name = `churn${round}`
      await step(`${name} started`, () => run(['--name', name, '-p', '9090', APP_IMAGE, ...serve(name)]))
      await step(`${name}-2 joined`, () => run(['--name', `${name}-2`, '--replica-of', name, '-p', '9090', APP_IMAGE, ...serve(name)]))
      await step(`${name} stopped`, () => docker('stop', '-t', '0', name))
      // Started again, on another published port (the bridge hands out a new one).
      await step(`${name} started again`, () => docker('start', name))
      await step(`${name}-2 removed`, () => docker('rm', '-f', `${name}-2`))
      await step(`${name} removed`, () => docker('rm', '-f', name))
    }
    await until('the last removal routed', async () => ((await through('churn2')).status === 404 ? true : undefined), HANG_MS, 20)
    expect(await socket.send('still here')).toBe('still here')
    const reloads = (await reloadCount()) - reloadsBefore
    console.log(`WebSocket open across ${changes} route changes; HAProxy reloads: ${reloads}`)
    expect(changes).toBe(18)
    expect(reloads).toBe(0)
    expect(socket.open()).toBe(true)
    socket.close()
    expect(await socket.closed).toBe('closed')
    await docker('rm', '-f', 'ws')
  })
})

describe('docker stop under load', () => {
  it('a replica stopped while clients keep asking loses no request: it leaves the proxy at its stop signal', async () => {
    await run(['--name', 'pair', '-p', '9090', image, ...node('pair')])
    await run(['--name', 'pair-2', '--replica-of', 'pair', '-p', '9090', image, ...node('pair')])
    await until('both servers routed', async () => ((await through('pair')).body === 'pair' ? true : undefined), HANG_MS, 20)
    const target = {address: ip, clients: 2, host: 'pair.local'}
    const kept = startLoad({...target, mode: 'keep-alive'})
    const fresh = startLoad({...target, mode: 'fresh'})
    const load = wrk(ip, 'pair.local', 8)
    try {
      await new Promise((resolve) => setTimeout(resolve, 500))
      await docker('stop', 'pair-2')
      await new Promise((resolve) => setTimeout(resolve, 500))
    } finally {
      load.stop()
    }
    const [keptResult, freshResult, loaded] = await Promise.all([kept.stop(), fresh.stop(), load.done])
    console.log(
      `replica stop under load: keep-alive ${keptResult.sent} requests, fresh connections ${freshResult.sent}, wrk ${loaded.requests}; ` +
        `failed ${keptResult.failed}, ${freshResult.failed}, ${JSON.stringify(loaded.errors)}`,
    )
    expect(keptResult.sent).toBeGreaterThan(10)
    expect(freshResult.sent).toBeGreaterThan(10)
    expect(loaded.requests).toBeGreaterThan(100)
    expect(keptResult.failures).toEqual([])
    expect(freshResult.failures).toEqual([])
    expect(loaded.errors).toEqual({connect: 0, read: 0, status: 0, timeout: 0, write: 0})
    expect(await docker('inspect', 'pair-2', '--format', '{{.State.Running}}')).toBe('false')
    await docker('rm', '-f', 'pair', 'pair-2')
  })

  it("the last container of a name: clients get highway's 503 page from the stop on, never HAProxy's bare 503 or an error", async () => {
    await run(['--name', 'solo', '-p', '9090', image, ...node('solo')])
    await until('solo routed', async () => ((await through('solo')).body === 'solo' ? true : undefined), HANG_MS, 20)
    const target = {address: ip, clients: 2, host: 'solo.local'}
    const kept = startLoad({...target, mode: 'keep-alive'})
    const fresh = startLoad({...target, mode: 'fresh'})
    await new Promise((resolve) => setTimeout(resolve, 300))
    await docker('stop', 'solo')
    await until('503 for solo', async () => ((await through('solo')).status === 503 ? true : undefined), HANG_MS, 20)
    await new Promise((resolve) => setTimeout(resolve, 300))
    const [keptResult, freshResult] = await Promise.all([kept.stop(), fresh.stop()])
    const kinds = (result: LoadResult) => result.failures.map((failure) => failure.kind)
    for (const result of [keptResult, freshResult]) {
      console.log(`last container stopping: ${describeLoad(result)}`)
      expect(result.ok).toBeGreaterThan(0)
      expect(result.failed).toBeGreaterThan(0)
    }
    // Once it stopped, highway's own page and nothing else: never HAProxy's bare 503, never a wait.
    // The one exception, at most one request per client: the one on its way at the very moment the
    // process exits. On a kept-alive connection the process closes its idle connection to HAProxy as it
    // exits and HAProxy closes the client's; on a fresh one (seen once in five runs) the backend, which
    // exits at once on SIGTERM, dies mid-answer, and an answer already begun cannot be retried elsewhere.
    // A client retries such a request on a new connection (browsers, curl); Node's does not.
    for (const result of [keptResult, freshResult]) {
      const others = kinds(result).filter((kind) => kind !== 'HTTP 503 (highway stopped)')
      expect(others.length).toBeLessThanOrEqual(target.clients)
      expect(others.every((kind) => kind === 'connection ECONNRESET')).toBe(true)
    }
    await docker('rm', '-f', 'solo')
  })
})
