// Figure 3: the latency the proxy adds, against the same keep-alive backend reached directly.
//
//   node bench/proxy-overhead.mjs [SECONDS]     (default 6 s per wrk run)
//
// Backend: a tiny Node HTTP server (keep-alive) in the infrastructure image, started with
// `highway run -d --name bench-ka -p 9090`. Targets, all reached from the host:
//   direct        the backend's published port on the bridge IP (what HAProxy itself connects to)
//   proxy         HAProxy's published port on the bridge IP, Host: bench-ka.<domain> (what users use)
//   proxy-cip     HAProxy at its container IP (no port publishing on the way in)
//   backend-cip   the backend at its container IP (no port publishing at all)
// and, to locate the cost, two hand-configured HAProxy containers with highway's own `global` and
// `defaults` sections and server options (taken from dist/'s renderer), reached at their container IPs: one routing to the backend's published port on the bridge IP
// (highway's path) and one routing to the backend's container IP.
//
// One connection: wrk -t1 -c1 --latency, rounds interleaved. Fixed rate: bench/lib/load.mjs at
// RATE req/s on up to 8 keep-alive connections, interleaved. Saturated: wrk -t2 -c20.
import {join} from 'node:path'
import {runLoad} from './lib/load.mjs'
import {
  BENCH_LABEL,
  ROOT,
  bench,
  containerIp,
  fmt,
  infraImage,
  log,
  median,
  must,
  percentile,
  relaunchUnderLock,
  run,
  sleep,
  startNodeBackend,
} from './lib/common.mjs'
import {CONTAINERS, haproxyPrelude, haproxyServerOptions} from './lib/highway.mjs'
import {TARGETS} from './lib/targets.mjs'

relaunchUnderLock(import.meta.url)
const SECONDS = Number(process.argv[2] ?? process.env.SECONDS_PER_RUN ?? 6)
const ROUNDS = Number(process.env.ROUNDS ?? 3)
const RATE = Number(process.env.RATE ?? 1000)

async function wrk(target, {connections = 1, threads = 1, seconds = SECONDS} = {}) {
  const result = await run(
    'wrk',
    [
      `-t${threads}`,
      `-c${connections}`,
      `-d${seconds}s`,
      '--latency',
      '-s',
      join(ROOT, 'bench', 'lib', 'wrk-json.lua'),
      `http://${target.address}:${target.port}/`,
    ],
    {
      env: {...process.env, WRK_HOST: target.host ?? ''},
      timeout: (seconds + 30) * 1000,
    },
  )
  const line = result.stdout.split('\n').find((l) => l.startsWith('WRKJSON '))
  if (result.code !== 0 || !line) throw new Error(`wrk failed: ${result.stderr || result.stdout}`)
  const out = JSON.parse(line.slice(8))
  const errors = Object.values(out.errors).reduce((a, b) => a + b, 0)
  return {
    rps: Math.round(out.rps),
    requests: out.requests,
    errors,
    p50: out.pct_us['50'] / 1000,
    p90: out.pct_us['90'] / 1000,
    p99: out.pct_us['99'] / 1000,
    p999: out.pct_us['99.9'] / 1000,
  }
}

/** highway's own global/defaults and server options, one backend, no map lookup: the bare proxy path. */
function handHaproxy(server) {
  return [haproxyPrelude(), 'frontend http', '    bind :80', '    default_backend b', 'backend b', `    server s ${server} ${haproxyServerOptions()}`, ''].join(
    '\n',
  )
}

async function startHandHaproxy(name, image, server) {
  await must('docker', [
    'run',
    '-d',
    '--label',
    BENCH_LABEL,
    '--name',
    name,
    '-e',
    `CFG=${handHaproxy(server)}`,
    image,
    'sh',
    '-c',
    'printf "%s" "$CFG" > /tmp/h.cfg && exec haproxy -W -db -f /tmp/h.cfg',
  ])
  return containerIp(name)
}

const round3 = (v) => +v.toFixed(3)

await bench('proxy-overhead', async ({settings: cfg}) => {
  const image = await infraImage()
  const backend = await startNodeBackend('bench-ka', image)
  log(
    `bench-ka: highway run -d returned after ${backend.runMs} ms; the proxy first answered 200 ${backend.firstOkAfterMs} ms later (${backend.notOkAnswers} other answers before)`,
  )
  const proxyIp = await containerIp(CONTAINERS.proxy)
  const handViaBridge = await startHandHaproxy('bench-hap-bridge', image, `${cfg.bridgeIp}:${backend.port}`)
  const handViaCip = await startHandHaproxy('bench-hap-cip', image, `${backend.containerIp}:9090`)
  await sleep(500)
  const targets = {
    direct: {address: cfg.bridgeIp, port: backend.port},
    proxy: {address: cfg.bridgeIp, port: 80, host: `bench-ka.${cfg.domain}`},
    'proxy-cip': {address: proxyIp, port: 80, host: `bench-ka.${cfg.domain}`},
    'backend-cip': {address: backend.containerIp, port: 9090},
    'hand-haproxy->bridge-port': {address: handViaBridge, port: 80},
    'hand-haproxy->container-ip': {address: handViaCip, port: 80},
  }
  // Warm every path (JIT in the backend, connection tracking, HAProxy's first connections).
  for (const target of Object.values(targets)) await wrk(target, {seconds: 1})

  // --- one connection, interleaved rounds (direct/proxy in alternating order) ---
  const c1 = Object.fromEntries(Object.keys(targets).map((k) => [k, []]))
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? Object.keys(targets) : Object.keys(targets).reverse()
    for (const key of order) c1[key].push(await wrk(targets[key]))
    log(
      `  one-connection round ${r + 1}/${ROUNDS}: ` +
        Object.keys(targets)
          .map((k) => `${k} p50 ${fmt(c1[k][r].p50, 3)}`)
          .join(', '),
    )
  }
  const med = (list, key) => round3(median(list.map((x) => x[key])))
  const oneConnection = Object.fromEntries(
    Object.entries(c1).map(([k, list]) => [
      k,
      {
        p50: med(list, 'p50'),
        p99: med(list, 'p99'),
        p999: med(list, 'p999'),
        rps: Math.round(median(list.map((x) => x.rps))),
        errors: list.reduce((a, x) => a + x.errors, 0),
      },
    ]),
  )
  // Added latency: per round (same round = same machine state), then the median over rounds.
  const added = (list, base, key) => round3(median(list.map((x, i) => x[key] - base[i][key])))
  const oneConnectionAdded = {p50: added(c1.proxy, c1.direct, 'p50'), p99: added(c1.proxy, c1.direct, 'p99')}
  log(`one connection (wrk -c1), median of ${ROUNDS} rounds, ms:`)
  for (const [k, v] of Object.entries(oneConnection)) log(`  ${k.padEnd(28)} p50 ${fmt(v.p50, 3)}  p99 ${fmt(v.p99, 3)}  ${v.rps} req/s`)
  log(`  proxy adds p50 +${fmt(oneConnectionAdded.p50, 3)} ms, p99 +${fmt(oneConnectionAdded.p99, 3)} ms (target ${TARGETS.proxyOverhead.text})`)

  // --- fixed moderate rate, interleaved ---
  const fixed = {direct: [], proxy: []}
  for (let r = 0; r < 2; r++) {
    for (const key of r % 2 === 0 ? ['direct', 'proxy'] : ['proxy', 'direct']) {
      const t = targets[key]
      const load = await runLoad({address: t.address, port: t.port, host: t.host ?? `${t.address}:${t.port}`, rate: RATE, durationMs: 10_000, connections: 8})
      if (load.aborted) throw new Error(`fixed-rate load on ${key}: ${load.aborted}`)
      fixed[key].push({
        p50: percentile(load.latency, 50),
        p99: percentile(load.latency, 99),
        p999: percentile(load.latency, 99.9),
        qp99: percentile(load.queued, 99),
        ok: load.ok,
        failed: load.failed,
        conns: load.connectionsOpened,
      })
    }
  }
  const fixedRate = Object.fromEntries(
    Object.entries(fixed).map(([k, list]) => [
      k,
      {
        p50: med(list, 'p50'),
        p99: med(list, 'p99'),
        p999: med(list, 'p999'),
        scheduledP99: med(list, 'qp99'),
        requests: list.reduce((a, x) => a + x.ok + x.failed, 0),
        failed: list.reduce((a, x) => a + x.failed, 0),
      },
    ]),
  )
  const fixedAdded = {p50: added(fixed.proxy, fixed.direct, 'p50'), p99: added(fixed.proxy, fixed.direct, 'p99')}
  log(`fixed rate ${RATE} req/s (bench/lib/load.mjs, <= 8 keep-alive connections), median of 2 rounds, ms:`)
  for (const [k, v] of Object.entries(fixedRate))
    log(`  ${k.padEnd(28)} p50 ${fmt(v.p50, 3)}  p99 ${fmt(v.p99, 3)}  p99.9 ${fmt(v.p999, 3)}  (${v.requests} requests, ${v.failed} failed)`)
  log(`  proxy adds p50 +${fmt(fixedAdded.p50, 3)} ms, p99 +${fmt(fixedAdded.p99, 3)} ms (target ${TARGETS.proxyOverhead.text})`)

  // --- saturated ---
  const saturated = {}
  for (const key of Object.keys(targets)) saturated[key] = await wrk(targets[key], {connections: 20, threads: 2, seconds: SECONDS})
  const ratio = (a, b) => +(saturated[a].rps / saturated[b].rps).toFixed(2)
  const saturatedRatios = {
    'proxy/direct': ratio('proxy', 'direct'),
    'proxy-cip/backend-cip': ratio('proxy-cip', 'backend-cip'),
    'proxy (published on bridge)/proxy-cip': ratio('proxy', 'proxy-cip'),
    'direct (published on bridge)/backend-cip': ratio('direct', 'backend-cip'),
    'hand->bridge-port/hand->container-ip': ratio('hand-haproxy->bridge-port', 'hand-haproxy->container-ip'),
  }
  log('saturated (wrk -t2 -c20):')
  for (const [k, v] of Object.entries(saturated)) log(`  ${k.padEnd(28)} ${v.rps} req/s  p50 ${fmt(v.p50, 3)} ms  p99 ${fmt(v.p99, 3)} ms  errors ${v.errors}`)
  for (const [k, v] of Object.entries(saturatedRatios)) log(`  ${k}: ${v}`)

  const {p50Ms, p99Ms} = TARGETS.proxyOverhead
  const met = oneConnectionAdded.p50 <= p50Ms && oneConnectionAdded.p99 <= p99Ms && fixedAdded.p50 <= p50Ms && fixedAdded.p99 <= p99Ms
  return {
    secondsPerRun: SECONDS,
    rounds: ROUNDS,
    rate: RATE,
    backend,
    targets: Object.fromEntries(Object.entries(targets).map(([k, t]) => [k, `${t.address}:${t.port}${t.host ? ` Host: ${t.host}` : ''}`])),
    oneConnection,
    oneConnectionAdded,
    fixedRate,
    fixedAdded,
    saturated: Object.fromEntries(Object.entries(saturated).map(([k, v]) => [k, {rps: v.rps, p50: round3(v.p50), p99: round3(v.p99), errors: v.errors}])),
    saturatedRatios,
    target: {p50: p50Ms, p99: p99Ms},
    handHaproxyConfig: handHaproxy('SERVER'),
    met,
  }
})
