// Figure 11 (issue 12): what TCP by name costs, against a direct connection to the same redis.
//
//   node bench/tcp.mjs [REQUESTS]     (default 100,000 per redis-benchmark run; ROUNDS=3)
//
// One redis-server, started with `highway run -d --name bench-tcp -p 6379`. redis-benchmark (Debian's,
// from test/e2e/tcp/Dockerfile) runs on the host's network stack, as a host client would, against:
//   direct    the container's own address (what the forwarder connects to)
//   by name   bench-tcp.<domain>:6379, the name's own address from highway's DNS: the forwarder's hop
// GET and SET, one connection (latency) and 50 connections (throughput), rounds interleaved.
import {ensureRedisImage, redisServer} from './lib/redis.mjs'
import {BENCH_LABEL, bench, containerIp, dockerOut, fmt, highway, log, median, must, relaunchUnderLock, settings, sleep} from './lib/common.mjs'

relaunchUnderLock(import.meta.url)
const REQUESTS = Number(process.argv[2] ?? process.env.REQUESTS ?? 100_000)
const ROUNDS = Number(process.env.ROUNDS ?? 3)
const LOADS = [
  {clients: 1, name: 'one connection'},
  {clients: 50, name: '50 connections'},
]

/** redis-benchmark --csv: one row per test, "rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms". */
async function redisBenchmark(image, address, clients) {
  const out = await dockerOut(
    'run',
    '--rm',
    '--network',
    'host',
    '--label',
    BENCH_LABEL,
    image,
    'redis-benchmark',
    '-h',
    address,
    '-p',
    '6379',
    '-n',
    String(REQUESTS),
    '-c',
    String(clients),
    '-t',
    'set,get',
    '--csv',
  )
  const rows = {}
  for (const line of out.split('\n')) {
    const cells = line.split(',').map((cell) => cell.replaceAll('"', ''))
    if (cells.length < 8 || Number.isNaN(Number(cells[1]))) continue
    rows[cells[0]] = {p50Ms: Number(cells[4]), p99Ms: Number(cells[6]), rps: Number(cells[1])}
  }
  if (!rows.SET || !rows.GET) throw new Error(`redis-benchmark gave no SET/GET rows: ${out.slice(0, 300)}`)
  return rows
}

await bench('tcp', async () => {
  const cfg = settings()
  const image = await ensureRedisImage()
  const started = await highway(['run', '-d', '--name', 'bench-tcp', '-p', '6379', '--label', BENCH_LABEL, image, ...redisServer()])
  if (started.code !== 0) throw new Error(`highway run bench-tcp failed: ${started.stderr}`)
  const direct = await containerIp('bench-tcp')
  const byName = (await must('dig', [`@${cfg.bridgeIp}`, '+short', `bench-tcp.${cfg.domain}`])).stdout.trim()
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(byName)) throw new Error(`bench-tcp.${cfg.domain} did not resolve: ${byName}`)
  log(`direct ${direct}:6379, by name bench-tcp.${cfg.domain} -> ${byName}:6379`)
  for (let tries = 0; ; tries++) {
    const ping = await dockerOut('run', '--rm', '--network', 'host', '--label', BENCH_LABEL, image, 'redis-cli', '-h', byName, 'PING').catch(() => '')
    if (ping === 'PONG') break
    if (tries > 100) throw new Error('bench-tcp never answered PING by name')
    await sleep(100)
  }
  const samples = []
  for (let round = 0; round < ROUNDS; round++) {
    for (const load of LOADS) {
      for (const [target, address] of [
        ['direct', direct],
        ['by name', byName],
      ]) {
        const rows = await redisBenchmark(image, address, load.clients)
        samples.push({clients: load.clients, round, rows, target})
        log(
          `round ${round + 1}, ${load.name}, ${target}: SET ${fmt(rows.SET.rps, 0)}/s p50 ${rows.SET.p50Ms} ms, GET ${fmt(rows.GET.rps, 0)}/s p50 ${rows.GET.p50Ms} ms`,
        )
      }
    }
  }
  const summary = LOADS.map((load) => {
    const pick = (target, test, field) => median(samples.filter((s) => s.clients === load.clients && s.target === target).map((s) => s.rows[test][field]))
    const tests = Object.fromEntries(
      ['SET', 'GET'].map((test) => {
        const d = {p50Ms: pick('direct', test, 'p50Ms'), p99Ms: pick('direct', test, 'p99Ms'), rps: pick('direct', test, 'rps')}
        const h = {p50Ms: pick('by name', test, 'p50Ms'), p99Ms: pick('by name', test, 'p99Ms'), rps: pick('by name', test, 'rps')}
        return [test, {addedP50Ms: +(h.p50Ms - d.p50Ms).toFixed(3), byName: h, direct: d, throughputRatio: +(h.rps / d.rps).toFixed(3)}]
      }),
    )
    return {clients: load.clients, name: load.name, tests}
  })
  for (const row of summary) {
    for (const [test, t] of Object.entries(row.tests)) {
      log(
        `${row.name}, ${test}: direct ${fmt(t.direct.rps, 0)}/s p50 ${t.direct.p50Ms} ms; by name ${fmt(t.byName.rps, 0)}/s p50 ${t.byName.p50Ms} ms (x${t.throughputRatio}, +${t.addedP50Ms} ms)`,
      )
    }
  }
  return {requests: REQUESTS, rounds: ROUNDS, samples, summary}
})
