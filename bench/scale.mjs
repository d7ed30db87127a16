// Figure 5: scale. With SERVICES registered services: time for one new route to go live, HAProxy's
// reload time, `highway ls` time and the agent's memory, each against the same figure measured
// first with (almost) nothing registered.
//
//   node bench/scale.mjs [SERVICES]     (default 1000)
//
// Starting 1,000 containers on 2 cores is not feasible, so the records are written straight into
// etcd under the agent's key schema (src/registry/schema.ts, imported from dist/):
//   /highway/v2/hosts/<hostId>/services/<name>/<containerId> -> ServiceRecord JSON
// as etcd's root user (a host's own user may write only its own range), through highway's own
// registry client (dist/clients.js, with this bench's config directory and its certificates),
// with a hostId that is not this agent's: the agent renders every host's records but only ever
// deletes its own (diffRecords(desired, records, host.id) filters on record.hostId), so it leaves
// them alone, exactly as it would leave another host's services. They are held by a lease of this
// script's own (60 s TTL, kept alive while it runs): revoking it at the end deletes them all at
// once, and if the script dies they expire by themselves.
//
// Each fake service is "running" with a real server: the keep-alive backend this script starts,
// reached like highway reaches every service (its port published on the bridge IP). So HAProxy
// carries 1,000 backends with 1,000 health-checked servers, all pointing at our own container.
import {randomBytes} from 'node:crypto'
import {
  ENV,
  APP_IMAGE,
  BENCH_LABEL,
  NODE_BACKEND,
  agentStepTimings,
  bench,
  busyboxServe,
  dockerApi,
  dockerEvents,
  dockerOut,
  ensureAppImage,
  fmt,
  highway,
  httpGet,
  infraImage,
  isRouted,
  isStopped,
  log,
  memoryMiB,
  must,
  now,
  containerIp,
  relaunchUnderLock,
  reloadCount,
  sleep,
  summary,
  watchTransition,
} from './lib/common.mjs'
import {CONTAINERS, createClients, loadSettings, serviceKey} from './lib/highway.mjs'

relaunchUnderLock(import.meta.url)
const SERVICES = Number(process.argv[2] ?? process.env.SERVICES ?? 1000)
const RUNS = Number(process.env.RUNS ?? 5)
const FAKE_HOST = 'benchfakehost'

/** One scale point: new-route time (highway run -d, and docker start -> answering), reload, ls, memory. */
async function measure(cfg, label) {
  const runMs = []
  for (let i = 0; i < RUNS; i++) {
    const name = `bench-scale-${label}-${i}`
    const result = await highway(['run', '-d', '--name', name, '-p', '9090', '--label', BENCH_LABEL, APP_IMAGE, ...busyboxServe(name)])
    if (result.code !== 0) throw new Error(`highway run ${name}: ${result.stderr}`)
    runMs.push(result.ms)
    await sleep(200)
  }
  // One of them stopped and started again RUNS times: Docker's event -> the proxy's answer.
  const name = `bench-scale-${label}-0`
  const id = await dockerOut('inspect', '--format', '{{.Id}}', name)
  const events = []
  const stopEvents = dockerEvents(BENCH_LABEL, (event) => event.id === id && events.push(event))
  await sleep(200)
  const startToLive = []
  const stopTo503 = []
  try {
    for (let i = 0; i < RUNS; i++) {
      for (const action of ['stop', 'start']) {
        const before = now()
        const watching = watchTransition(cfg, `${name}.${cfg.domain}`, action === 'stop' ? isStopped : isRouted, {interval: 2})
        await dockerApi('POST', `/containers/${id}/${action === 'stop' ? 'stop?t=0' : 'start'}`)
        const {at} = await watching
        await sleep(50)
        const event = events.find((e) => e.at >= before - 5 && e.action === (action === 'stop' ? 'die' : 'start'))
        ;(action === 'stop' ? stopTo503 : startToLive).push(at - event.at)
        await sleep(150)
      }
    }
  } finally {
    stopEvents()
  }
  const steps = await agentStepTimings(3)
  const lsMs = []
  let lsRows = 0
  for (let i = 0; i < RUNS; i++) {
    const result = await highway(['ls', '--json'], {timeout: 60_000})
    if (result.code !== 0) throw new Error(`highway ls: ${result.stderr}`)
    lsMs.push(result.ms)
    lsRows = JSON.parse(result.stdout).length
  }
  const point = {
    routes: lsRows,
    highwayRunMs: summary(runMs, 1),
    startToLiveMs: summary(startToLive, 1),
    stopTo503Ms: summary(stopTo503, 1),
    haproxyCheckMs: steps.checkMs,
    reloadMs: steps.reloadMs,
    configLines: steps.configLines,
    lsMs: summary(lsMs, 1),
    agentMiB: await memoryMiB(CONTAINERS.agent),
    proxyMiB: await memoryMiB(CONTAINERS.proxy),
  }
  log(`[${label}] ${lsRows} routes in \`highway ls\`, config ${steps.configLines} lines`)
  log(`  highway run -d (new route live)   p50 ${fmt(point.highwayRunMs.p50)} ms   max ${fmt(point.highwayRunMs.max)}`)
  log(`  docker start -> answering          p50 ${fmt(point.startToLiveMs.p50)} ms   max ${fmt(point.startToLiveMs.max)}`)
  log(`  docker stop (die) -> 503           p50 ${fmt(point.stopTo503Ms.p50)} ms   max ${fmt(point.stopTo503Ms.max)}`)
  log(`  haproxy -c                         p50 ${fmt(point.haproxyCheckMs.p50)} ms;  master reload p50 ${fmt(point.reloadMs.p50)} ms`)
  log(`  highway ls                         p50 ${fmt(point.lsMs.p50)} ms`)
  log(`  memory: agent ${point.agentMiB} MiB, proxy ${point.proxyMiB} MiB`)
  for (let i = 0; i < RUNS; i++) await must('docker', ['rm', '-f', `bench-scale-${label}-${i}`])
  await sleep(1500) // let the agent's reloads for these removals finish
  return point
}

await bench('scale', async ({settings: cfg}) => {
  await ensureAppImage()
  const image = await infraImage()
  // The servers of the fake services: a plain container (not a highway service itself).
  await must('docker', ['run', '-d', '--label', BENCH_LABEL, '--name', 'bench-scale-backend', '-p', `${cfg.bridgeIp}::9090`, image, ...NODE_BACKEND])
  // Another host's records may not name this host's bridge (the registry refuses them: that address
  // is this host's, not theirs), so the fake host's services are at the backend's own address.
  const backendAddress = await containerIp('bench-scale-backend')
  await sleep(500)

  const baseline = await measure(cfg, 'base')

  const clients = createClients(ENV)
  const etcd = clients.admin(loadSettings(ENV))
  const lease = etcd.lease(60)
  let scaled
  let fill
  let drain
  try {
    const reloadsBefore = await reloadCount()
    await lease.grant()
    const names = Array.from({length: SERVICES}, (_, i) => `bench-fake-${String(i).padStart(4, '0')}`)
    const putStarted = now()
    for (let i = 0; i < names.length; i += 100) {
      await Promise.all(
        names.slice(i, i + 100).map((name) => {
          const containerId = randomBytes(32).toString('hex')
          const record = {
            schema: 2,
            name,
            state: 'running',
            ports: [{containerPort: '9090/tcp', address: backendAddress, port: 9090}],
            hostId: FAKE_HOST,
            hostName: 'bench-fake-host',
            containerId,
            containerName: name,
            containerIp: '',
            createdAt: '2026-01-01T00:00:00.000000000Z',
            replica: false,
            updatedAt: new Date().toISOString(),
          }
          return lease.put(serviceKey(record), JSON.stringify(record))
        }),
      )
    }
    const putDone = now()
    // Converged when the last and the first fake names both answer through the proxy.
    for (const name of [names.at(-1), names[0]]) {
      const deadline = now() + 120_000
      for (;;) {
        const answer = await httpGet(cfg.bridgeIp, 80, `${name}.${cfg.domain}`).catch(() => ({}))
        if (isRouted(answer)) break
        if (now() > deadline) throw new Error(`${name} did not become routable within 120 s`)
        await sleep(20)
      }
    }
    fill = {
      records: SERVICES,
      putMs: +(putDone - putStarted).toFixed(0),
      allLiveMs: +(now() - putStarted).toFixed(0),
      reloads: (await reloadCount()) - reloadsBefore,
    }
    log(`${SERVICES} records put in ${fill.putMs} ms; all routed ${fill.allLiveMs} ms after the first put (${fill.reloads} reloads)`)
    await sleep(2000)

    scaled = await measure(cfg, 'scaled')
  } finally {
    const revokeStarted = now()
    await lease.revoke().catch((error) => console.error(`lease revoke failed (the records expire in 60 s): ${error.message}`))
    // Drained when the last fake name is unknown to the proxy again.
    const deadline = now() + 120_000
    while (now() < deadline) {
      const answer = await httpGet(cfg.bridgeIp, 80, `bench-fake-${String(SERVICES - 1).padStart(4, '0')}.${cfg.domain}`).catch(() => ({}))
      if (answer.kind === 'not-found') break
      await sleep(20)
    }
    drain = {allGoneMs: +(now() - revokeStarted).toFixed(0)}
    const {records: left} = await etcd.listServices()
    const fakeLeft = [...left.values()].filter((record) => record.hostId === FAKE_HOST).length
    drain.fakeRecordsLeft = fakeLeft
    log(`lease revoked: every fake route gone from the proxy in ${drain.allGoneMs} ms; fake records left in etcd: ${fakeLeft}`)
    clients.close()
  }

  const ratio = (key) => +(scaled[key].p50 / baseline[key].p50).toFixed(2)
  return {
    services: SERVICES,
    runs: RUNS,
    fill,
    drain,
    baseline,
    scaled,
    ratios: {
      highwayRun: ratio('highwayRunMs'),
      startToLive: ratio('startToLiveMs'),
      reload: ratio('reloadMs'),
      ls: ratio('lsMs'),
      agentMemory: +(scaled.agentMiB / baseline.agentMiB).toFixed(2),
    },
  }
})
