// Issue 10's figures: failed requests out of N during `highway run -d --replace` and during
// `docker stop` of a replica, under closed-loop load through the proxy (test/support/load-clients.mjs,
// the e2e suite's own load generator): CLIENTS keep-alive clients and CLIENTS fresh-connection
// clients at once, every request counted (non-2xx, highway's 503 page, a reset, no answer in 5 s).
// The service drains on SIGTERM, as a well-behaved server does.
//
//   node bench/replace.mjs [ROUNDS]        (default 5 of each; CLIENTS=4)
import {describeLoad, startLoad} from '../test/support/load-clients.mjs'
import {BENCH_LABEL, bench, docker, highway, infraImage, log, pollProxy, relaunchUnderLock, sleep, summary} from './lib/common.mjs'

relaunchUnderLock(import.meta.url)
const ROUNDS = Number(process.argv[2] ?? process.env.ROUNDS ?? 5)
const CLIENTS = Number(process.env.CLIENTS ?? 4)
/** Load before and after each swap or stop, so both ends of it are under load. */
const MARGIN_MS = 500

const SERVER =
  "const s=require('http').createServer((q,r)=>r.end(process.env.VERSION+'\\n'));s.keepAliveTimeout=65000;s.listen(9090);" +
  "process.on('SIGTERM',()=>s.close(()=>process.exit(0)))"

/** `highway run -d` of the draining server as NAME, answering VERSION; `own` are highway's flags (--replace, --replica-of). */
const service = (name, version, image, own = []) => [
  'run',
  '-d',
  '--name',
  name,
  ...own,
  '--label',
  BENCH_LABEL,
  '-p',
  '9090',
  '-e',
  `VERSION=${version}`,
  '--stop-timeout',
  '10',
  image,
  'node',
  '-e',
  SERVER,
]

/** Runs `action` with both kinds of load on, from MARGIN_MS before it to MARGIN_MS after. */
async function underLoad(cfg, action) {
  const target = {address: cfg.bridgeIp, host: `bench-api.${cfg.domain}`, clients: CLIENTS}
  const loads = [startLoad({...target, mode: 'keep-alive'}), startLoad({...target, mode: 'fresh'})]
  await sleep(MARGIN_MS)
  const outcome = await action()
  await sleep(MARGIN_MS)
  const [keepAlive, fresh] = await Promise.all(loads.map((load) => load.stop()))
  for (const result of [keepAlive, fresh]) log(`  ${describeLoad(result)}`)
  const brief = (r) => ({sent: r.sent, failed: r.failed, failures: r.failures, bodies: Object.keys(r.bodies)})
  return {...outcome, keepAlive: brief(keepAlive), fresh: brief(fresh)}
}

/** Until the proxy has given `body` once (the container that says it is one of the name's servers). */
const routedAs = (cfg, body) => pollProxy(cfg, `bench-api.${cfg.domain}`, (answer) => answer.status === 200 && answer.body?.trim() === body, {interval: 20})

function totals(rounds) {
  const sum = (mode, key) => rounds.reduce((n, round) => n + round[mode][key], 0)
  return {
    keepAlive: {sent: sum('keepAlive', 'sent'), failed: sum('keepAlive', 'failed')},
    fresh: {sent: sum('fresh', 'sent'), failed: sum('fresh', 'failed')},
  }
}

await bench('replace', async ({settings: cfg}) => {
  const image = await infraImage()
  const first = await highway(service('bench-api', 'v0', image))
  if (first.code !== 0) throw new Error(`highway run bench-api failed: ${first.stderr}`)
  await routedAs(cfg, 'v0')

  const replace = []
  for (let i = 1; i <= ROUNDS; i++) {
    log(`replace ${i}/${ROUNDS}`)
    replace.push(
      await underLoad(cfg, async () => {
        const result = await highway(service('bench-api', `v${i}`, image, ['--replace']))
        if (result.code !== 0) throw new Error(`highway run --replace failed: ${result.stderr}`)
        return {round: i, swapMs: Math.round(result.ms), said: result.stderr.trim().split('\n')}
      }),
    )
  }

  const replicaStop = []
  for (let i = 1; i <= ROUNDS; i++) {
    log(`replica stop ${i}/${ROUNDS}`)
    const name = `bench-api-r${i}`
    const started = await highway(service(name, `replica${i}`, image, ['--replica-of', 'bench-api']))
    if (started.code !== 0) throw new Error(`highway run ${name} failed: ${started.stderr}`)
    await routedAs(cfg, `replica${i}`)
    replicaStop.push(
      await underLoad(cfg, async () => {
        const stop = await docker(['stop', name])
        if (stop.code !== 0) throw new Error(`docker stop ${name} failed: ${stop.stderr}`)
        return {round: i, stopMs: Math.round(stop.ms)}
      }),
    )
    await docker(['rm', '-f', name])
  }

  const figures = {
    clients: CLIENTS,
    rounds: ROUNDS,
    replace: {
      swapMs: summary(
        replace.map((round) => round.swapMs),
        0,
      ),
      ...totals(replace),
      rounds: replace,
    },
    replicaStop: {
      stopMs: summary(
        replicaStop.map((round) => round.stopMs),
        0,
      ),
      ...totals(replicaStop),
      rounds: replicaStop,
    },
  }
  log(`replace: ${JSON.stringify({swapMs: figures.replace.swapMs, ...totals(replace)})}`)
  log(`replica stop: ${JSON.stringify({stopMs: figures.replicaStop.stopMs, ...totals(replicaStop)})}`)
  return figures
})
