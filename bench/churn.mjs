// Figure 10: connections that never notice a change (issue 10).
//
//   node bench/churn.mjs            (MINUTES=10 of churn, SOCKETS=4 WebSockets, STOPS=20 replica stops)
//
// 1. Long-lived connections across churn: SOCKETS WebSockets to an echo service through the proxy,
//    each sending a message every second, and a steady keep-alive HTTP load (RATE req/s) to the same
//    service, while other routes change back to back for MINUTES: names started, joined by a replica,
//    stopped, started again on a new port, removed. Reported: how long every WebSocket stayed open and
//    over how many route changes, messages unanswered, HTTP requests failed, HAProxy reloads per 100
//    route changes, HAProxy's memory before and after, and its processes (old workers would pile up here).
// 2. A replica stopped under load, STOPS times: a name served by an owner and a replica (Node servers
//    that exit at once on SIGTERM, requests in flight and all), keep-alive load plus a client opening
//    a fresh connection per request; `docker stop` of the replica. Reported: failed requests out of N.
import {request} from 'node:http'
import {echoServerSource, openWebSocket} from './lib/websocket.mjs'
import {
  APP_IMAGE,
  BENCH_LABEL,
  bench,
  busyboxServe,
  docker,
  ensureAppImage,
  highway,
  infraImage,
  log,
  masterCli,
  memoryMiB,
  now,
  relaunchUnderLock,
  reloadCount,
  sleep,
  startLoad,
} from './lib/common.mjs'
import {CONTAINERS} from './lib/highway.mjs'

relaunchUnderLock(import.meta.url)
const MINUTES = Number(process.env.MINUTES ?? 10)
const SOCKETS = Number(process.env.SOCKETS ?? 4)
const STOPS = Number(process.env.STOPS ?? 20)
const RATE = Number(process.env.RATE ?? 100)
process.env.HIGHWAY_BENCH_LIMIT_S ??= String(MINUTES * 60 + 600)

async function runService(args) {
  const result = await highway(['run', '-d', '--label', BENCH_LABEL, ...args])
  if (result.code !== 0) throw new Error(`highway run ${args.join(' ')} failed: ${result.stderr}`)
}

async function must(args) {
  const result = await docker(args)
  if (result.code !== 0) throw new Error(`docker ${args.join(' ')} failed: ${result.stderr}`)
}

/** HAProxy's processes, from the master CLI: the master, the current worker, and any old worker still finishing connections. */
async function proxyProcesses() {
  const lines = (await masterCli('show proc')).split('\n').filter((line) => /^\s*\d+\s+(master|worker)/.test(line))
  return {workers: lines.filter((line) => /\bworker\b/.test(line)).length, lines: lines.length}
}

/** One request per fresh connection, back to back, until `running()` is false. */
async function freshLoop(address, host, running) {
  const result = {sent: 0, ok: 0, failures: []}
  while (running()) {
    result.sent++
    const outcome = await new Promise((resolve) => {
      const req = request({agent: false, headers: {host}, host: address, path: '/', port: 80, timeout: 5000}, (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode === 200 ? 'ok' : `status ${res.statusCode} ${res.headers['x-highway'] ?? ''}`.trim()))
        res.on('error', (error) => resolve(`error ${error.code ?? error.message}`))
      })
      req.on('timeout', () => req.destroy(new Error('timeout')))
      req.on('error', (error) => resolve(`error ${error.code ?? error.message}`))
      req.end()
    })
    if (outcome === 'ok') result.ok++
    else result.failures.push(outcome)
  }
  return result
}

async function longLived(cfg, image) {
  await runService(['--name', 'bench-ws', '-p', '9090', image, 'node', '-e', echoServerSource(9090)])
  const host = `bench-ws.${cfg.domain}`
  const sockets = []
  for (let i = 0; i < SOCKETS; i++) {
    const socket = await openWebSocket({address: cfg.bridgeIp, host})
    sockets.push({socket, openedAt: now(), sent: 0, echoed: 0, unanswered: 0, closedAfterChanges: null, closedAt: null})
  }
  const memoryBefore = await memoryMiB(CONTAINERS.proxy)
  const processesBefore = await proxyProcesses()
  const reloadsBefore = await reloadCount()
  const load = startLoad({address: cfg.bridgeIp, port: 80, host, rate: RATE, durationMs: (MINUTES * 60 + 60) * 1000, connections: 4})

  let changes = 0
  const pinging = setInterval(() => {
    for (const entry of sockets) {
      if (!entry.socket.open()) {
        if (entry.closedAt === null) [entry.closedAt, entry.closedAfterChanges] = [now(), changes]
        continue
      }
      entry.sent++
      entry.socket.send(`ping ${entry.sent}`).then(
        () => entry.echoed++,
        () => entry.unanswered++,
      )
    }
  }, 1000)

  const deadline = now() + MINUTES * 60_000
  const memorySamples = []
  const change = async (args) => {
    await must(args)
    changes++
    if (changes % 250 === 0) {
      memorySamples.push({changes, proxyMiB: await memoryMiB(CONTAINERS.proxy)})
      log(`  ${changes} route changes, proxy ${memorySamples.at(-1).proxyMiB} MiB, ${Math.round((deadline - now()) / 1000)} s to go`)
    }
  }
  for (let round = 0; now() < deadline; round++) {
    const name = `bench-churn${round % 4}`
    const started = await highway(['run', '-d', '--label', BENCH_LABEL, '--name', name, '-p', '9090', APP_IMAGE, ...busyboxServe(name)])
    if (started.code !== 0) throw new Error(`highway run ${name} failed: ${started.stderr}`)
    changes++
    await change([
      'run',
      '-d',
      '--label',
      BENCH_LABEL,
      '--label',
      `io.highway.service=${name}`,
      '--label',
      `io.highway.replica-of=${name}`,
      '--name',
      `${name}-2`,
      '-p',
      `${cfg.bridgeIp}::9090`,
      APP_IMAGE,
      ...busyboxServe(name),
    ])
    await change(['stop', '-t', '0', name])
    await change(['start', name])
    await change(['rm', '-f', `${name}-2`])
    await change(['rm', '-f', name])
  }
  clearInterval(pinging)
  await sleep(1500)
  load.stop()
  const http = await load.done
  const reloads = (await reloadCount()) - reloadsBefore
  const memoryAfter = await memoryMiB(CONTAINERS.proxy)
  const processesAfter = await proxyProcesses()
  const socketResults = sockets.map((entry) => ({
    openS: +(((entry.closedAt ?? now()) - entry.openedAt) / 1000).toFixed(1),
    stillOpen: entry.socket.open(),
    closedAfterChanges: entry.closedAfterChanges,
    sent: entry.sent,
    echoed: entry.echoed,
    unanswered: entry.unanswered,
  }))
  for (const entry of sockets) entry.socket.close()
  await must(['rm', '-f', 'bench-ws'])
  const failed = http.errors.length
  log(
    `long-lived: ${changes} route changes in ${MINUTES} min; ${socketResults.filter((s) => s.stillOpen).length}/${SOCKETS} WebSockets open to the end ` +
      `(${socketResults.reduce((n, s) => n + s.unanswered, 0)} of ${socketResults.reduce((n, s) => n + s.sent, 0)} messages unanswered); ` +
      `HTTP ${failed} of ${http.sent} failed; ${reloads} reloads; proxy ${memoryBefore} -> ${memoryAfter} MiB, workers ${processesBefore.workers} -> ${processesAfter.workers}`,
  )
  return {
    minutes: MINUTES,
    changes,
    changesPerMinute: +(changes / MINUTES).toFixed(1),
    reloads,
    reloadsPer100Changes: +((reloads * 100) / Math.max(changes, 1)).toFixed(2),
    sockets: socketResults,
    http: {sent: http.sent, ok: http.ok, failed, errors: http.errors.slice(0, 20)},
    proxyMiB: {before: memoryBefore, after: memoryAfter, samples: memorySamples},
    proxyWorkers: {before: processesBefore.workers, after: processesAfter.workers},
  }
}

const NODE_EXITS_ON_TERM = (body) => [
  'node',
  '-e',
  `const s=require('http').createServer((q,r)=>r.end('${body}'));s.keepAliveTimeout=120000;process.on('SIGTERM',()=>process.exit(0));s.listen(9090)`,
]

async function replicaStops(cfg, image) {
  const host = `bench-pair.${cfg.domain}`
  const rounds = []
  await runService(['--name', 'bench-pair', '-p', '9090', image, ...NODE_EXITS_ON_TERM('pair')])
  for (let round = 0; round < STOPS; round++) {
    await runService(['--name', `bench-pair-r${round}`, '--replica-of', 'bench-pair', '-p', '9090', image, ...NODE_EXITS_ON_TERM('pair')])
    await sleep(300)
    const load = startLoad({address: cfg.bridgeIp, port: 80, host, rate: 400, durationMs: 60_000, connections: 8})
    let running = true
    const fresh = freshLoop(cfg.bridgeIp, host, () => running)
    await sleep(500)
    const stopped = now()
    await must(['stop', `bench-pair-r${round}`])
    const stopMs = now() - stopped
    await sleep(500)
    running = false
    load.stop()
    const [kept, freshResult] = await Promise.all([load.done, fresh])
    rounds.push({
      stopMs: +stopMs.toFixed(0),
      keepAlive: {sent: kept.sent, failed: kept.errors.length, errors: kept.errors.slice(0, 5)},
      fresh: {sent: freshResult.sent, failed: freshResult.failures.length, errors: freshResult.failures.slice(0, 5)},
    })
    await must(['rm', '-f', `bench-pair-r${round}`])
  }
  await must(['rm', '-f', 'bench-pair'])
  const sum = (pick) => rounds.reduce((n, r) => n + pick(r), 0)
  const total = {sent: sum((r) => r.keepAlive.sent + r.fresh.sent), failed: sum((r) => r.keepAlive.failed + r.fresh.failed)}
  log(`replica stops: ${STOPS} stops, ${total.failed} of ${total.sent} requests failed (keep-alive and fresh connections)`)
  return {stops: STOPS, ...total, rounds}
}

await bench('churn', async ({settings: cfg}) => {
  await ensureAppImage()
  const image = await infraImage()
  const stops = await replicaStops(cfg, image)
  const longLivedResult = await longLived(cfg, image)
  return {longLived: longLivedResult, replicaStops: stops}
})
