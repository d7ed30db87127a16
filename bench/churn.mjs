// Figure 10: connections that never notice a change (issue 10).
//
//   node bench/churn.mjs            (MINUTES=10 of churn, SOCKETS=4 WebSockets, RATE=100 req/s)
//
// Long-lived connections across churn: SOCKETS WebSockets to an echo service through the proxy,
//    each sending a message every second, and a steady keep-alive HTTP load (RATE req/s) to the same
//    service, while other routes change back to back for MINUTES: names started, joined by a replica,
//    stopped, started again on a new port, removed. Reported: how long every WebSocket stayed open and
//    over how many route changes, messages unanswered, HTTP requests failed, HAProxy reloads per 100
//    route changes, HAProxy's memory before and after, and its processes (old workers would pile up here).
// Failed requests during `run --replace` and a replica's `docker stop` are bench/replace.mjs's.
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

await bench('churn', async ({settings: cfg}) => {
  await ensureAppImage()
  const image = await infraImage()
  return {longLived: await longLived(cfg, image)}
})
