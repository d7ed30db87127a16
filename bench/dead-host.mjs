// Dead-host route expiry. Host B (a dockerd in a network namespace of its own, on the same default
// bridge subnet as this machine's engine, host A: test/e2e/netns-hosts.ts) joins A's registry and runs
// one service; B is then cut off the segment the hosts share (its link down: to A, a host that died
// with its whole network, no lease revoke). Measured over ROUNDS rounds, on A's proxy polled every
// ~10 ms on fresh connections: from the cut to the service's route gone (highway's 404), and from B's return to the route
// answering again (B's agent re-grants its lease and puts every record again).
//
//   node --import tsx bench/dead-host.mjs [ROUNDS]     (default 8; LEASE_TTL=10 seconds, B's lease TTL)
//
// The lease is renewed every TTL/3, so a cut lands between renewals: expiry follows the last renewal
// by the TTL, i.e. 2/3 TTL to TTL after the cut, plus etcd's expiry check and the proxy's update.
import {copyFileSync, mkdtempSync} from 'node:fs'
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
import {SWITCH, copyImages, highwayOn, netnsHost, setLink, startHost, startSwitch, stopHost, stopSwitch} from '../test/e2e/netns-hosts.ts'

relaunchUnderLock(import.meta.url)
const ROUNDS = Number(process.argv[2] ?? process.env.ROUNDS ?? 8)
const LEASE_TTL = Number(process.env.LEASE_TTL ?? 10)
const B = netnsHost('b', 2)

const isGone = (answer) => answer.status === 404 && answer.kind === 'not-found'

/** ms from now until A's proxy (polled every ~10 ms, fresh connections) gives an answer `done` accepts. */
async function until(settings, done, timeout) {
  const started = now()
  const {at} = await pollProxy(settings, 'far.local', done, {interval: 10, timeout})
  return at - started
}

await bench('dead-host', async ({settings}) => {
  const envB = {...process.env, HIGHWAY_CONFIG_DIR: mkdtempSync(join(tmpdir(), 'highway-bench-b-')), NO_COLOR: '1'}
  await ensureAppImage()
  try {
    await startSwitch()
    const advertised = await highway(['up', '--advertise-ip', SWITCH.rootAddress], {env: ENV, timeout: 300_000})
    if (advertised.code !== 0) throw new Error(`highway up --advertise-ip failed: ${advertised.stderr}`)
    await startHost(B)
    await copyImages(B, [await infraImage(), APP_IMAGE])
    // A file of its own per run: join-file never writes over one.
    const file = join(mkdtempSync(join(tmpdir(), 'highway-bench-join-')), 'b.join')
    const made = await highway(['join-file', '--out', file], {env: ENV})
    if (made.code !== 0) throw new Error(`join-file failed: ${made.stderr}`)
    copyFileSync(file, join(envB.HIGHWAY_CONFIG_DIR, 'b.join'))
    const upB = await highwayOn(
      B,
      ['up', '--join', join(envB.HIGHWAY_CONFIG_DIR, 'b.join'), '--advertise-ip', B.address, '--lease-ttl', String(LEASE_TTL)],
      envB,
    )
    if (upB.code !== 0) throw new Error(`up on B failed: ${upB.stderr}`)
    const run = await highwayOn(B, ['run', '-d', '--name', 'far', '-p', '9090', APP_IMAGE, ...busyboxServe('far')], envB)
    if (run.code !== 0) throw new Error(`run on B failed: ${run.stderr}`)
    await until(settings, isRouted, 15_000)

    const expiry = []
    const back = []
    for (let round = 0; round < ROUNDS; round++) {
      // A random phase against the renewals, so the rounds sample the whole 2/3 TTL .. TTL window.
      await sleep((Math.random() * (LEASE_TTL * 1000)) / 3)
      await setLink(B, false)
      expiry.push(await until(settings, isGone, LEASE_TTL * 4000))
      await setLink(B, true)
      back.push(await until(settings, isRouted, 60_000))
      log(`round ${round + 1}/${ROUNDS}: routes gone ${fmt(expiry.at(-1), 0)} ms after the cut, back ${fmt(back.at(-1), 0)} ms after the return`)
    }
    const gone = summary(expiry, 0)
    const again = summary(back, 0)
    log(
      `dead host, TTL ${LEASE_TTL} s: routes gone p50 ${gone.p50} ms, p95 ${gone.p95} ms (min ${gone.min}, max ${gone.max}); back p50 ${again.p50} ms, p95 ${again.p95} ms`,
    )
    return {leaseTtlS: LEASE_TTL, rounds: ROUNDS, routesGoneMs: gone, routesBackMs: again, samples: {back, expiry}}
  } finally {
    await setLink(B, true).catch(() => {})
    await stopHost(B, envB)
    // Host A as the other benchmarks expect it: published on loopback and the bridge only.
    await highway(['up', '--advertise-ip', ''], {env: ENV, timeout: 300_000})
    await stopSwitch()
  }
})
