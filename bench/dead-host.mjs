// Dead-host route expiry. Host B (a dockerd in a network namespace of its own, on the same default
// bridge subnet as this machine's engine, host A: test/e2e/netns-hosts.ts) joins A's registry and runs
// one service; B is then cut off the segment the hosts share (its link down: to A, a host that died
// with its whole network, no lease revoke). Measured over ROUNDS rounds, on A's proxy polled every
// ~10 ms on fresh connections: from the cut to the service's route gone (highway's 404), and from B's return to the route
// answering again (B's agent re-grants its lease and puts every record again).
//
//   node --import tsx bench/dead-host.mjs [ROUNDS]     (default 8; LEASE_TTL=10 seconds, B's TTL)
//   MEMBER=1 node --import tsx bench/dead-host.mjs     (B runs an etcd member, and so does a third host, C)
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
  ENV,
  bench,
  busyboxServe,
  ensureAppImage,
  fmt,
  highway,
  infraImage,
  isRouted,
  log,
  now,
  pollProxy,
  relaunchUnderLock,
  sleep,
  summary,
} from './lib/common.mjs'
import {Etcd3} from 'etcd3'
import {ETCD_SERVER_NAME} from '../src/registry/pki.ts'
import {SWITCH, copyImages, highwayOn, netnsHost, setLink, startHost, startSwitch, stopHost, stopSwitch} from '../test/e2e/netns-hosts.ts'

relaunchUnderLock(import.meta.url)
const ROUNDS = Number(process.argv[2] ?? process.env.ROUNDS ?? 8)
const LEASE_TTL = Number(process.env.LEASE_TTL ?? 10)
const B = netnsHost('b', 2)
const C = netnsHost('c', 3)
const MEMBER = process.env.MEMBER === '1'

const isGone = (answer) => answer.status === 404 && answer.kind === 'not-found'

/** ms from now until A's proxy (polled every ~10 ms, fresh connections) gives an answer `done` accepts. */
async function until(settings, done, timeout) {
  const started = now()
  const {at} = await pollProxy(settings, 'far.local', done, {interval: 10, timeout})
  return at - started
}

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
  })
  try {
    await client.maintenance.moveLeader({targetID: all.find(isB).id})
  } finally {
    client.close()
  }
}

await bench(MEMBER ? 'dead-member-host' : 'dead-host', async ({settings}) => {
  const envB = {...process.env, HIGHWAY_CONFIG_DIR: mkdtempSync(join(tmpdir(), 'highway-bench-b-')), NO_COLOR: '1'}
  const envC = {...process.env, HIGHWAY_CONFIG_DIR: mkdtempSync(join(tmpdir(), 'highway-bench-c-')), NO_COLOR: '1'}
  await ensureAppImage()
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
    const run = await highwayOn(B, ['run', '-d', '--name', 'far', '-p', '9090', APP_IMAGE, ...busyboxServe('far')], envB)
    if (run.code !== 0) throw new Error(`run on B failed: ${run.stderr}`)
    await until(settings, isRouted, 15_000)

    const expiry = []
    const back = []
    const led = []
    for (let round = 0; round < ROUNDS; round++) {
      // A random phase against the renewals, so the rounds sample the whole 2/3 TTL .. TTL window.
      await sleep((Math.random() * (LEASE_TTL * 1000)) / 3)
      if (MEMBER && round % 2 === 0) await leadFromB()
      if (MEMBER) led.push((await members()).some((member) => member.leader && isB(member)))
      await setLink(B, false)
      expiry.push(await until(settings, isGone, LEASE_TTL * 4000))
      await setLink(B, true)
      back.push(await until(settings, isRouted, 60_000))
      const leader = MEMBER ? ` (B's member ${led.at(-1) ? 'led' : 'did not lead'})` : ''
      log(`round ${round + 1}/${ROUNDS}: routes gone ${fmt(expiry.at(-1), 0)} ms after the cut${leader}, back ${fmt(back.at(-1), 0)} ms after the return`)
    }
    const gone = summary(expiry, 0)
    const again = summary(back, 0)
    log(
      `dead ${MEMBER ? 'member ' : ''}host, TTL ${LEASE_TTL} s: routes gone p50 ${gone.p50} ms, p95 ${gone.p95} ms (min ${gone.min}, max ${gone.max}); back p50 ${again.p50} ms, p95 ${again.p95} ms`,
    )
    return {leaseTtlS: LEASE_TTL, member: MEMBER, rounds: ROUNDS, routesGoneMs: gone, routesBackMs: again, samples: {back, expiry, ...(MEMBER && {bLed: led})}}
  } finally {
    await setLink(B, true).catch(() => {})
    await stopHost(B, envB)
    if (MEMBER) await stopHost(C, envC)
    // Host A as the other benchmarks expect it: published on loopback and the bridge only.
    await highway(['up', '--advertise-ip', ''], {env: ENV, timeout: 300_000})
    await stopSwitch()
  }
})
