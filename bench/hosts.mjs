// Figure 12: many hosts (issue 11). Host B (a dockerd in a network namespace of its own, on the same
// default bridge subnet as this machine's engine, host A: test/e2e/netns-hosts.ts) joins A's registry
// and runs one service, `far`; everything is timed on A's proxy, as a client on A sees it.
//
// 1. Propagation across hosts: `far` stopped (`stop?t=0`) and started EVENTS times through B's engine
//    API, then REMOVALS fresh services force-removed there; from B's Docker event (`start`, `die`,
//    `destroy`: B's engine runs on this machine's clock) to A's proxy's new answer (200, highway's
//    503, highway's 404), polled as bench/propagation.mjs polls (a fresh-connection GET every ~1 ms,
//    never waiting for earlier answers). An etcd watch on A splits each interval at the record's change.
// 2. A dead host: B cut off the segment the hosts share (its link down: to A, a host that died with
//    its whole network, no lease revoke), ROUNDS times; from the cut to `far`'s route gone from A's
//    proxy (highway's 404), against B's TTL, and from B's return to the route answering again (B's
//    agent re-grants its lease and puts every record again). Polled every ~10 ms (a request to the
//    dead host waits for HAProxy's connect retries or the poller's 3 s timeout).
//
//   node --import tsx bench/hosts.mjs [EVENTS]     (default 30; REMOVALS=10, ROUNDS=6, LEASE_TTL=10 seconds, B's TTL)
//   MEMBER=1 node --import tsx bench/hosts.mjs     (B runs an etcd member, and so does a third host, C)
//
// B's agent grants its etcd lease shorter than its TTL (src/registry/held-keys.ts, leaseFor) and renews
// it every third of that, so a cut lands between renewals: expiry follows the last renewal by the
// lease's TTL, plus etcd's expiry check and the proxy's update. Where B runs an etcd member it may be
// the leader: the others elect a new one, which restarts every lease. With MEMBER=1 the cluster has
// three members (B, C and A's), so it keeps its quorum without B, and every other round hands B the
// leadership before the cut (etcd's MoveLeader, as root): the worst case, sampled as often as the other.
import {copyFileSync, mkdtempSync, readFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {
  APP_IMAGE,
  BENCH_LABEL,
  ENV,
  bench,
  busyboxServe,
  dockerApi,
  dockerEvents,
  ensureAppImage,
  firstAfter,
  fmt,
  highway,
  infraImage,
  isRouted,
  isStopped,
  log,
  now,
  pollProxy,
  relaunchUnderLock,
  sleep,
  summary,
  watchTransition,
} from './lib/common.mjs'
import {watchRecordPuts} from './lib/highway.mjs'
import {TARGETS} from './lib/targets.mjs'
import {Etcd3} from 'etcd3'
import {ETCD_SERVER_NAME} from '../src/registry/pki.ts'
import {SWITCH, copyImages, highwayOn, netnsHost, setLink, startHost, startSwitch, stopHost, stopSwitch} from '../test/e2e/netns-hosts.ts'

relaunchUnderLock(import.meta.url)
// Two or three engines to start, fill with images and join before the first figure: more than the
// other scripts' limit, still bounded.
process.env.HIGHWAY_BENCH_LIMIT_S ??= '420'
const EVENTS = Number(process.argv[2] ?? process.env.EVENTS ?? 30)
const REMOVALS = Number(process.env.REMOVALS ?? 10)
const ROUNDS = Number(process.env.ROUNDS ?? 6)
const LEASE_TTL = Number(process.env.LEASE_TTL ?? 10)
const B = netnsHost('b', 2)
const C = netnsHost('c', 3)
const MEMBER = process.env.MEMBER === '1'
const NAME = 'far'

const isGone = (answer) => answer.status === 404 && answer.kind === 'not-found'

/** Makes a join file on A for `host` (a member if `member`), carries it over and runs `up --join` there. */
async function joinHost(host, env, member) {
  // A file of its own per run: join-file never writes over one.
  const file = join(mkdtempSync(join(tmpdir(), 'highway-bench-join-')), `${host.letter}.join`)
  const made = await highway(['join-file', '--out', file, ...(member ? ['--advertise-ip', host.address] : [])], {env: ENV})
  if (made.code !== 0) throw new Error(`join-file failed: ${made.stderr}`)
  copyFileSync(file, join(env.HIGHWAY_CONFIG_DIR, `${host.letter}.join`))
  const up = await highwayOn(
    host,
    ['up', '--join', join(env.HIGHWAY_CONFIG_DIR, `${host.letter}.join`), '--advertise-ip', host.address, '--lease-ttl', String(LEASE_TTL)],
    env,
  )
  if (up.code !== 0) throw new Error(`up on ${host.letter} failed: ${up.stderr}`)
}

/** The cluster's members as A's CLI sees them. */
async function members() {
  const status = await highway(['status', '--json'], {env: ENV})
  return JSON.parse(status.stdout).cluster?.members ?? []
}

const isB = (member) => member.peerUrls[0] === `https://${B.address}:2380`

/** Hands the leadership to B's member: MoveLeader, sent to the leader, is root's (A's PKI has root's identity). */
async function leadFromB() {
  const all = await members()
  const leader = all.find((member) => member.leader)
  if (!leader || isB(leader)) return
  const pki = (name) => readFileSync(join(ENV.HIGHWAY_CONFIG_DIR, 'pki', name))
  const client = new Etcd3({
    hosts: leader.clientUrls,
    credentials: {certChain: pki('root.crt'), privateKey: pki('root.key'), rootCertificate: pki('ca.crt')},
    grpcOptions: {'grpc.ssl_target_name_override': ETCD_SERVER_NAME},
    // A member that has just come back may not take the leadership yet; without a deadline the call waits forever.
    dialTimeout: 5000,
    defaultCallOptions: () => ({deadline: Date.now() + 5000}),
  })
  try {
    await client.maintenance.moveLeader({targetID: all.find(isB).id})
  } catch (error) {
    // The round still runs: it records whether B led, from the members' own view, right before the cut.
    log(`MoveLeader to B failed (${error.message}): this round's cut is of a member that may not lead`)
  } finally {
    client.close()
  }
}

/** Requests that got neither the old nor the new answer, over a list of watchTransition results. */
const oddOf = (list) => ({
  oddRequests: list.reduce((sum, r) => sum + r.odd, 0),
  oddMaxMs: Math.max(0, ...list.map((r) => r.oddMaxMs)),
  polledRequests: list.reduce((sum, r) => sum + r.polls, 0),
})
/** Sums watchTransition's answer counts. */
const tally = (list) => {
  const sum = {}
  for (const answers of list) for (const [key, n] of Object.entries(answers)) sum[key] = (sum[key] ?? 0) + n
  return sum
}
const watched = ({odd, sent}) => ({polls: sent, odd: odd.length, oddMaxMs: Math.max(0, ...odd.map((o) => o.ms))})

/**
 * Part 1: `far` on B stopped and started EVENTS times, REMOVALS fresh services removed, each timed from
 * B's Docker event to A's proxy's new answer. `far` is running again at the end.
 */
async function propagation(cfg, envB) {
  const host = `${NAME}.${cfg.domain}`
  const {Id: id} = await dockerApi('GET', `/containers/${NAME}/json`, undefined, B.socket)
  const events = []
  const stopEvents = dockerEvents(BENCH_LABEL, (event) => events.push(event), B.socket)
  const {puts, close: stopWatch} = await watchRecordPuts(ENV, NAME, now, (error) => log(`etcd watch broken: ${error.message}`))
  await sleep(300)
  const results = {start: [], stop: [], remove: []}
  try {
    for (let i = 0; i < EVENTS; i++) {
      for (const action of ['stop', 'start']) {
        const before = now()
        const watching = watchTransition(cfg, host, action === 'stop' ? isStopped : isRouted, {interval: 1})
        await dockerApi('POST', `/containers/${id}/${action === 'stop' ? 'stop?t=0' : 'start'}`, undefined, B.socket)
        const result = await watching
        await sleep(60) // let the event and the watch catch up before matching them
        const event = firstAfter(events, before - 5, (e) => e.id === id && e.action === (action === 'stop' ? 'die' : 'start'))
        const put = firstAfter(puts, before, (p) => p.state === (action === 'stop' ? 'stopped' : 'running'))
        if (!event) throw new Error(`no docker ${action} event seen on B`)
        results[action].push({
          fromEvent: result.at - event.at,
          eventToEtcd: put ? put.at - event.at : NaN,
          etcdToProxy: put ? result.at - put.at : NaN,
          ...watched(result),
        })
        await sleep(120) // quiet gap: the next action starts from settled agents and proxies
      }
      if ((i + 1) % 10 === 0) log(`  ${i + 1}/${EVENTS} stop/start cycles on B`)
    }
    for (let i = 0; i < REMOVALS; i++) {
      const name = `${NAME}-rm${i}`
      const run = await highwayOn(B, ['run', '-d', '--name', name, '-p', '9090', '--label', BENCH_LABEL, APP_IMAGE, ...busyboxServe('rm')], envB)
      if (run.code !== 0) throw new Error(`highway run ${name} on B failed: ${run.stderr}`)
      const removeId = run.stdout.trim()
      // `run -d` returns once B's proxy answers; A's may follow a little later.
      await pollProxy(cfg, `${name}.${cfg.domain}`, isRouted, {interval: 10, timeout: 15_000})
      const before = now()
      const watching = watchTransition(cfg, `${name}.${cfg.domain}`, isGone, {interval: 1})
      await dockerApi('DELETE', `/containers/${removeId}?force=true`, undefined, B.socket)
      const result = await watching
      await sleep(60)
      const event = firstAfter(events, before - 5, (e) => e.id === removeId && e.action === 'destroy')
      if (!event) throw new Error(`no docker destroy event seen on B for ${name}`)
      results.remove.push({fromEvent: result.at - event.at, ...watched(result)})
      await sleep(120)
    }
  } finally {
    stopEvents()
    await stopWatch()
  }
  const pick = (list, key) => list.map((r) => r[key]).filter(Number.isFinite)
  const out = {events: EVENTS}
  for (const action of ['start', 'stop']) {
    const list = results[action]
    out[action] = {
      fromEvent: summary(pick(list, 'fromEvent'), 1),
      eventToEtcd: summary(pick(list, 'eventToEtcd'), 1),
      etcdToProxy: summary(pick(list, 'etcdToProxy'), 1),
      ...oddOf(list),
    }
    log(`${action} on B -> A's proxy ${action === 'start' ? 'answering' : '503'} (from B's docker event): ${JSON.stringify(out[action].fromEvent)}`)
    log(`   of which event -> record in etcd: ${JSON.stringify(out[action].eventToEtcd)}; record -> A's proxy: ${JSON.stringify(out[action].etcdToProxy)}`)
    log(`   requests answered by neither state: ${out[action].oddRequests} of ${out[action].polledRequests}, slowest ${fmt(out[action].oddMaxMs)} ms`)
  }
  out.remove = {count: results.remove.length, fromEvent: summary(pick(results.remove, 'fromEvent'), 1), ...oddOf(results.remove)}
  log(`rm -f on B -> A's proxy 404 (from B's destroy event): ${JSON.stringify(out.remove.fromEvent)}`)
  log(`   requests answered by neither state: ${out.remove.oddRequests} of ${out.remove.polledRequests}, slowest ${fmt(out.remove.oddMaxMs)} ms`)
  return out
}

/** Part 2: B cut off ROUNDS times; from the cut to `far` gone from A's proxy, and from B's return to it answering. */
async function deadHost(cfg) {
  const host = `${NAME}.${cfg.domain}`
  const rounds = []
  for (let round = 0; round < ROUNDS; round++) {
    // A random phase against the renewals, so the rounds sample the whole 2/3 TTL .. TTL window.
    await sleep((Math.random() * (LEASE_TTL * 1000)) / 3)
    if (MEMBER && round % 2 === 0) await leadFromB()
    const bLed = MEMBER ? (await members()).some((member) => member.leader && isB(member)) : undefined
    await setLink(B, false)
    const cut = now()
    const gone = await watchTransition(cfg, host, isGone, {interval: 10, timeout: LEASE_TTL * 4000})
    await setLink(B, true)
    const back = now()
    const answering = await watchTransition(cfg, host, isRouted, {interval: 10, timeout: 60_000})
    rounds.push({goneMs: gone.at - cut, backMs: answering.at - back, bLed, cut: watched(gone), back: watched(answering), cutAnswers: gone.answers})
    const leader = MEMBER ? ` (B's member ${bLed ? 'led' : 'did not lead'})` : ''
    log(`round ${round + 1}/${ROUNDS}: routes gone ${fmt(gone.at - cut, 0)} ms after the cut${leader}, back ${fmt(answering.at - back, 0)} ms after the return`)
  }
  const out = {
    rounds: ROUNDS,
    routesGoneMs: summary(
      rounds.map((r) => r.goneMs),
      0,
    ),
    routesBackMs: summary(
      rounds.map((r) => r.backMs),
      0,
    ),
    // While B is cut off, A's proxy still routes to it: those requests fail until the lease expires.
    whileCut: oddOf(rounds.map((r) => r.cut)),
    // After B's return nothing should fail: the route answers 404 until B's records are back, then 200.
    afterReturn: oddOf(rounds.map((r) => r.back)),
    // What a client of B's service met between the cut and the routes leaving, all rounds together.
    answersWhileCut: tally(rounds.map((r) => r.cutAnswers)),
    samples: {gone: rounds.map((r) => +r.goneMs.toFixed(0)), back: rounds.map((r) => +r.backMs.toFixed(0)), ...(MEMBER && {bLed: rounds.map((r) => r.bLed)})},
  }
  const {p50, p95, max} = out.routesGoneMs
  log(
    `dead ${MEMBER ? 'member ' : ''}host, TTL ${LEASE_TTL} s: routes gone p50 ${p50} ms, p95 ${p95} ms (max ${max}); back p50 ${out.routesBackMs.p50} ms, p95 ${out.routesBackMs.p95} ms`,
  )
  log(
    `   requests that failed while B was cut off: ${out.whileCut.oddRequests} of ${out.whileCut.polledRequests}; after its return: ${out.afterReturn.oddRequests} of ${out.afterReturn.polledRequests}`,
  )
  log(`   answers while B was cut off: ${JSON.stringify(out.answersWhileCut)}`)
  return out
}

await bench(MEMBER ? 'hosts-member' : 'hosts', async ({settings: cfg, onAbort}) => {
  const envB = {...process.env, HIGHWAY_CONFIG_DIR: mkdtempSync(join(tmpdir(), 'highway-bench-b-')), NO_COLOR: '1'}
  const envC = {...process.env, HIGHWAY_CONFIG_DIR: mkdtempSync(join(tmpdir(), 'highway-bench-c-')), NO_COLOR: '1'}
  // B's and C's `down` first (a member's leaves the cluster while it still has its quorum), then host A
  // as the other benchmarks expect it: published on loopback and the bridge only.
  const teardown = async () => {
    await setLink(B, true).catch(() => {})
    await stopHost(B, envB)
    if (MEMBER) await stopHost(C, envC)
    await highway(['up', '--advertise-ip', ''], {env: ENV, timeout: 300_000})
    await stopSwitch()
  }
  onAbort(teardown)
  await ensureAppImage()
  const started = now()
  try {
    await startSwitch()
    const advertised = await highway(['up', '--advertise-ip', SWITCH.rootAddress], {env: ENV, timeout: 300_000})
    if (advertised.code !== 0) throw new Error(`highway up --advertise-ip failed: ${advertised.stderr}`)
    const hosts = MEMBER ? [B, C] : [B]
    await Promise.all(hosts.map((host) => startHost(host)))
    const images = [await infraImage(), APP_IMAGE]
    await Promise.all(hosts.map((host) => copyImages(host, images)))
    await joinHost(B, envB, MEMBER)
    if (MEMBER) {
      await joinHost(C, envC, true)
      // A learns the members that joined since its own `up`: its agent fails over to them.
      const again = await highway(['up'], {env: ENV, timeout: 300_000})
      if (again.code !== 0) throw new Error(`up on A again failed: ${again.stderr}`)
    }
    const run = await highwayOn(B, ['run', '-d', '--name', NAME, '-p', '9090', '--label', BENCH_LABEL, APP_IMAGE, ...busyboxServe(NAME)], envB)
    if (run.code !== 0) throw new Error(`run on B failed: ${run.stderr}`)
    await pollProxy(cfg, `${NAME}.${cfg.domain}`, isRouted, {interval: 10, timeout: 15_000})
    const setupS = (now() - started) / 1000
    log(`hosts up and joined (${MEMBER ? 'B and C etcd members' : 'B a client'}) in ${fmt(setupS)} s`)

    const partStarted = now()
    const prop = await propagation(cfg, envB)
    const propagationS = (now() - partStarted) / 1000
    log(`propagation across hosts: ${fmt(propagationS)} s`)
    const deadStarted = now()
    const dead = await deadHost(cfg)
    const deadS = (now() - deadStarted) / 1000
    const met = dead.routesGoneMs.max <= LEASE_TTL * 1000
    log(`dead host: ${fmt(deadS)} s; every round's routes gone within B's TTL (${LEASE_TTL} s): ${met ? 'yes' : 'NO'}`)
    return {
      leaseTtlS: LEASE_TTL,
      member: MEMBER,
      propagation: prop,
      deadHost: dead,
      target: TARGETS.deadHost.text,
      met,
      phasesS: {setup: +setupS.toFixed(1), propagation: +propagationS.toFixed(1), deadHost: +deadS.toFixed(1)},
    }
  } finally {
    await teardown()
  }
})
