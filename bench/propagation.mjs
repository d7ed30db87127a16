// Figure 2: propagation. From a container's start to its name answering through the proxy, and
// from its stop to the proxy's 503, over EVENTS starts and EVENTS stops of one service; then from a
// container's removal (`docker rm -f`) to the proxy's 404, over REMOVALS services.
//
//   node bench/propagation.mjs [EVENTS]     (default 50 of each; REMOVALS defaults to min(EVENTS, 20))
//
// Each interval is measured from Docker's own event timestamp (`start`, `die`: timeNano, same host
// clock) and, for comparison, from the moment the engine API call (start / stop?t=0) returned
// (negative when the proxy changed before the call returned), to the first proxy answer of the
// right kind. Polling starts just before the API call. The proxy is polled on fresh connections (keep-alive off)
// every ~1 ms, without waiting for earlier answers (bench/lib/common.mjs watchTransition). An etcd watch on the service's records splits each interval in two: Docker event ->
// record in etcd (the agent's Docker side) and record -> proxy answering (render, check, reload).
// The watch goes through highway's own registry client (dist/clients.js), as this host's etcd user.
import {
  ENV,
  APP_IMAGE,
  BENCH_LABEL,
  agentStepTimings,
  bench,
  busyboxServe,
  dockerApi,
  dockerEvents,
  dockerOut,
  ensureAppImage,
  firstAfter,
  fmt,
  highway,
  isRouted,
  isStopped,
  log,
  now,
  relaunchUnderLock,
  sleep,
  summary,
  watchTransition,
} from './lib/common.mjs'
import {haproxyDefault, watchRecordPuts} from './lib/highway.mjs'
import {TARGETS} from './lib/targets.mjs'

relaunchUnderLock(import.meta.url)
const EVENTS = Number(process.argv[2] ?? process.env.EVENTS ?? 50)
const REMOVALS = Number(process.env.REMOVALS ?? Math.min(EVENTS, 20))
const NAME = 'bench-prop'
const isGone = (answer) => answer.status === 404 && answer.kind === 'not-found'

await bench('propagation', async ({settings: cfg}) => {
  await ensureAppImage()
  const host = `${NAME}.${cfg.domain}`
  const started = await highway(['run', '-d', '--name', NAME, '-p', '9090', '--label', BENCH_LABEL, APP_IMAGE, ...busyboxServe('prop')])
  if (started.code !== 0) throw new Error(`highway run failed: ${started.stderr}`)
  const id = await dockerOut('inspect', '--format', '{{.Id}}', NAME)

  const events = []
  // How long an inspect takes right after `kill` and `die`: what the agent's own inspects wait for.
  const inspectAfterDie = []
  const inspectAfterKill = []
  const stopEvents = dockerEvents(BENCH_LABEL, (event) => {
    if (event.id !== id) {
      if (event.action === 'destroy') events.push(event) // the removal runs' own services
      return
    }
    events.push(event)
    if (event.action === 'die' || event.action === 'kill') {
      const sent = now()
      const into = event.action === 'die' ? inspectAfterDie : inspectAfterKill
      dockerApi('GET', `/containers/${id}/json`).then(
        () => into.push(now() - sent),
        () => {},
      )
    }
  })
  const {puts, close: stopWatch} = await watchRecordPuts(ENV, NAME, now, (error) => log(`etcd watch broken: ${error.message}`))
  await sleep(300)

  const results = {start: [], stop: [], remove: []}
  try {
    for (let i = 0; i < EVENTS; i++) {
      for (const action of ['stop', 'start']) {
        const before = now()
        // Polling starts before the call: Docker's stop returns ~100 ms after `die` (its network
        // teardown), and the proxy may change before that.
        const watching = watchTransition(cfg, host, action === 'stop' ? isStopped : isRouted, {interval: 1})
        await dockerApi('POST', `/containers/${id}/${action === 'stop' ? 'stop?t=0' : 'start'}`)
        const returned = now()
        const {at: answered, odd, sent} = await watching
        await sleep(60) // let the event and the watch catch up before matching them
        // Docker's `die` precedes `stop`; the agent acts on the first.
        const event = firstAfter(events, before - 5, (e) => (action === 'stop' ? e.action === 'die' : e.action === 'start'))
        const put = firstAfter(puts, before, (p) => p.state === (action === 'stop' ? 'stopped' : 'running'))
        if (!event) throw new Error(`no docker ${action} event seen`)
        results[action].push({
          fromEvent: answered - event.at,
          fromApiReturn: answered - returned,
          apiCall: returned - before,
          eventToEtcd: put ? put.at - event.at : NaN,
          etcdToProxy: put ? answered - put.at : NaN,
          polls: sent,
          odd: odd.length,
          oddMaxMs: Math.max(0, ...odd.map((o) => o.ms)),
        })
        await sleep(120) // quiet gap: the next action starts from a settled agent and proxy
      }
      if ((i + 1) % 10 === 0) log(`  ${i + 1}/${EVENTS} stop/start cycles`)
    }
    // Removal: a fresh service each time, routed first, then force-removed through the engine API.
    for (let i = 0; i < REMOVALS; i++) {
      const name = `${NAME}-rm${i}`
      const run = await highway(['run', '-d', '--name', name, '-p', '9090', '--label', BENCH_LABEL, APP_IMAGE, ...busyboxServe('rm')])
      if (run.code !== 0) throw new Error(`highway run ${name} failed: ${run.stderr}`)
      const removeId = run.stdout.trim()
      const before = now()
      const watching = watchTransition(cfg, `${name}.${cfg.domain}`, isGone, {interval: 1})
      await dockerApi('DELETE', `/containers/${removeId}?force=true`)
      const returned = now()
      const {at: answered, odd, sent} = await watching
      await sleep(60)
      const event = firstAfter(events, before - 5, (e) => e.id === removeId && e.action === 'destroy')
      if (!event) throw new Error(`no docker destroy event seen for ${name}`)
      results.remove.push({
        fromEvent: answered - event.at,
        fromApiReturn: answered - returned,
        polls: sent,
        odd: odd.length,
        oddMaxMs: Math.max(0, ...odd.map((o) => o.ms)),
      })
      await sleep(120)
    }
  } finally {
    stopEvents()
    await stopWatch()
  }

  const pick = (list, key) => list.map((r) => r[key]).filter(Number.isFinite)
  const out = {}
  for (const action of ['start', 'stop']) {
    const list = results[action]
    out[action] = {
      fromEvent: summary(pick(list, 'fromEvent'), 1),
      fromApiReturn: summary(pick(list, 'fromApiReturn'), 1),
      apiCall: summary(pick(list, 'apiCall'), 1),
      eventToEtcd: summary(pick(list, 'eventToEtcd'), 1),
      etcdToProxy: summary(pick(list, 'etcdToProxy'), 1),
      pollsP50: summary(pick(list, 'polls'), 0).p50,
      // Requests sent during the change that got neither the old nor the new answer (HAProxy's own
      // 503 after its retries against a dead or not-yet-listening server), and how long they took.
      oddRequests: list.reduce((sum, r) => sum + r.odd, 0),
      oddMaxMs: Math.max(...list.map((r) => r.oddMaxMs)),
      polledRequests: list.reduce((sum, r) => sum + r.polls, 0),
    }
    log(`${action} -> ${action === 'start' ? 'answering' : '503'} (from docker event):    ${JSON.stringify(out[action].fromEvent)}`)
    log(`${action} -> ${action === 'start' ? 'answering' : '503'} (from API call return): ${JSON.stringify(out[action].fromApiReturn)}`)
    log(`   of which event -> record in etcd: ${JSON.stringify(out[action].eventToEtcd)}`)
    log(`   of which record -> proxy answers: ${JSON.stringify(out[action].etcdToProxy)}`)
    log(`   requests answered by neither state: ${out[action].oddRequests} of ${out[action].polledRequests}, slowest ${fmt(out[action].oddMaxMs)} ms`)
  }
  const removed = results.remove
  out.remove = {
    count: removed.length,
    fromEvent: summary(pick(removed, 'fromEvent'), 1),
    fromApiReturn: summary(pick(removed, 'fromApiReturn'), 1),
    oddRequests: removed.reduce((sum, r) => sum + r.odd, 0),
    oddMaxMs: Math.max(0, ...removed.map((r) => r.oddMaxMs)),
    polledRequests: removed.reduce((sum, r) => sum + r.polls, 0),
  }
  log(`rm -f -> 404 (from docker destroy event): ${JSON.stringify(out.remove.fromEvent)}`)
  log(`rm -f -> 404 (from API call return):      ${JSON.stringify(out.remove.fromApiReturn)}`)
  log(`   requests answered by neither state: ${out.remove.oddRequests} of ${out.remove.polledRequests}, slowest ${fmt(out.remove.oddMaxMs)} ms`)
  out.inspectAfterDie = summary(inspectAfterDie, 1)
  out.inspectAfterKill = summary(inspectAfterKill, 1)
  // The order of Docker's events for one stop, and how far each is from `die`.
  const stopSequence = []
  for (const die of events.filter((e) => e.action === 'die')) {
    const near = events.filter((e) => Math.abs(e.at - die.at) < 1000 && e.action !== 'start')
    stopSequence.push(near.map((e) => `${e.action}${e.at - die.at >= 0 ? '+' : ''}${(e.at - die.at).toFixed(0)}`).join(' '))
  }
  out.stopEventSequence = stopSequence.slice(0, 3)
  log(`docker inspect issued on the kill event takes: ${JSON.stringify(out.inspectAfterKill)}`)
  log(`docker inspect issued on the die event takes: ${JSON.stringify(out.inspectAfterDie)}`)
  log(`docker events around a stop (ms from die): ${out.stopEventSequence[0]}`)
  const steps = await agentStepTimings(5)
  log(`agent steps per change (inside the agent container): haproxy -c ${JSON.stringify(steps.checkMs)}, master reload ${JSON.stringify(steps.reloadMs)}`)
  const worstP95 = Math.max(out.start.fromEvent.p95, out.stop.fromEvent.p95)
  const target = TARGETS.propagation.p95Ms
  log(`p95 (worst of start/stop, from docker event): ${fmt(worstP95)} ms (target ${TARGETS.propagation.text})`)
  // What decides how long a request racing a stop waits (report.mjs explains the failures with them).
  const haproxy = {retries: haproxyDefault('retries'), timeoutConnect: haproxyDefault('timeout connect')}
  return {events: EVENTS, ...out, agentSteps: steps, haproxy, target, worstP95, met: worstP95 < target}
})
