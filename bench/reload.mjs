// Figure 4: reloads under load. A steady keep-alive request stream to one service through the proxy
// while CHURN other routes come and go (`highway run -d` of a tiny busybox service, and
// `docker rm -f` of the one started LIVE routes earlier, so about LIVE extra routes exist at a time).
// Every request is accounted for: failed = answered with anything but 200, or lost with its connection.
//
//   node bench/reload.mjs [CHURN]      (default 100 routes)
//
// The load runs in its own process (bench/lib/load-cli.mjs: fixed RATE req/s, up to 8 keep-alive
// connections). Latency is compared between a quiet window before the churn, the churn itself, and a
// control: the same container churn with plain `docker run`/`docker rm -f` (no route, no reload).
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
  now,
  percentile,
  relaunchUnderLock,
  reloadCount,
  sleep,
  startLoad,
  startNodeBackend,
} from './lib/common.mjs'
import {TARGETS} from './lib/targets.mjs'

relaunchUnderLock(import.meta.url)
const CHURN = Number(process.argv[2] ?? process.env.CHURN ?? 100)
const LIVE = Number(process.env.LIVE ?? 10)
const RATE = Number(process.env.RATE ?? 500)
const QUIET_MS = 10_000

function windowStats(load, from, to) {
  const latencies = []
  for (let i = 0; i < load.sentAt.length; i++) if (load.sentAt[i] >= from && load.sentAt[i] < to) latencies.push(load.latency[i])
  const round = (v) => +v.toFixed(3)
  return {
    requests: latencies.length,
    p50: round(percentile(latencies, 50)),
    p99: round(percentile(latencies, 99)),
    p999: round(percentile(latencies, 99.9)),
    max: round(Math.max(...latencies)),
  }
}

await bench('reload', async ({settings: cfg}) => {
  await ensureAppImage()
  const image = await infraImage()
  const backend = await startNodeBackend('bench-steady', image)
  log(
    `bench-steady: highway run -d returned after ${backend.runMs} ms; the proxy first answered 200 ${backend.firstOkAfterMs} ms later (${backend.notOkAnswers} other answers before)`,
  )
  await sleep(2500) // past the first health check of the steady server
  const reloadsBefore = await reloadCount()

  const load = startLoad({address: cfg.bridgeIp, port: 80, host: `bench-steady.${cfg.domain}`, rate: RATE, durationMs: 280_000, connections: 8})
  await sleep(QUIET_MS)
  const churnFrom = now() - load.startedAt
  const runTimes = []
  const failures = []
  const names = []
  for (let i = 0; i < CHURN; i++) {
    const name = `bench-churn-${i}`
    const result = await highway(['run', '-d', '--name', name, '-p', '9090', '--label', BENCH_LABEL, APP_IMAGE, ...busyboxServe(name)])
    if (result.code !== 0) failures.push(`${name}: ${result.stderr.trim()}`)
    runTimes.push(result.ms)
    names.push(name)
    if (names.length > LIVE) await docker(['rm', '-f', names.shift()])
    if ((i + 1) % 25 === 0) log(`  ${i + 1}/${CHURN} routes added`)
  }
  while (names.length) await docker(['rm', '-f', names.shift()])
  const churnTo = now() - load.startedAt
  await sleep(3000)
  // Control: the same container churn with plain docker (no highway labels, so no route change and
  // no reload): what the machine's 2 cores do to latency without any reload.
  const reloadsBeforeControl = await reloadCount()
  const controlFrom = now() - load.startedAt
  for (let i = 0; i < CHURN; i++) {
    const name = `bench-control-${i}`
    await docker(['run', '-d', '--label', BENCH_LABEL, '--name', name, '-p', `${cfg.bridgeIp}::9090`, APP_IMAGE, ...busyboxServe(name)])
    names.push(name)
    if (names.length > LIVE) await docker(['rm', '-f', names.shift()])
  }
  while (names.length) await docker(['rm', '-f', names.shift()])
  const controlTo = now() - load.startedAt
  const controlReloads = (await reloadCount()) - reloadsBeforeControl
  await sleep(2000)
  load.stop()
  const result = await load.done
  const reloadsAfter = (await reloadCount()) - controlReloads
  if (failures.length) throw new Error(`highway run failed during churn: ${failures.slice(0, 3).join('; ')}`)

  const quiet = windowStats(result, 1000, churnFrom) // the first second warms connections
  const churn = windowStats(result, churnFrom, churnTo)
  const control = windowStats(result, controlFrom, controlTo)
  const errorKinds = {}
  for (const e of result.errors) errorKinds[e.kind] = (errorKinds[e.kind] ?? 0) + 1
  const failedIn = (from, to) => result.errors.filter((e) => e.at >= from && e.at < to).length
  const failedBy = {quiet: failedIn(0, churnFrom), churn: failedIn(churnFrom, churnTo), control: failedIn(controlFrom, controlTo)}
  const reloads = reloadsAfter - reloadsBefore
  log(`load: ${RATE} req/s on <= 8 keep-alive connections to bench-steady via the proxy, ${(result.durationMs / 1000).toFixed(0)} s`)
  log(`churn: ${CHURN} routes added and removed (${LIVE} live at a time) in ${((churnTo - churnFrom) / 1000).toFixed(1)} s; HAProxy reloads: ${reloads}`)
  log(`requests: ${result.sent} sent, ${result.ok} ok, ${result.failed} failed ${JSON.stringify(errorKinds)} (target ${TARGETS.reload.text})`)
  log(`failed by window: ${JSON.stringify(failedBy)}`)
  log(`connections opened ${result.connectionsOpened}, closed cleanly by the proxy ${result.closedByServer}`)
  log(`latency quiet (ms): ${JSON.stringify(quiet)}`)
  log(`latency churn (ms): ${JSON.stringify(churn)}`)
  log(`latency control, same churn with plain docker and no reload (${controlReloads} reloads) (ms): ${JSON.stringify(control)}`)
  return {
    rate: RATE,
    churn: CHURN,
    live: LIVE,
    churnSeconds: +((churnTo - churnFrom) / 1000).toFixed(1),
    reloads,
    requests: result.sent,
    ok: result.ok,
    failed: result.failed,
    errorKinds,
    failedBy,
    steadyBackend: backend,
    firstErrors: result.errors.slice(0, 10),
    connectionsOpened: result.connectionsOpened,
    closedByServer: result.closedByServer,
    quiet,
    duringChurn: churn,
    control,
    controlReloads,
    highwayRunMedianMs: +percentile(runTimes, 50).toFixed(1),
    target: TARGETS.reload.failed,
    met: result.failed <= TARGETS.reload.failed,
  }
})
