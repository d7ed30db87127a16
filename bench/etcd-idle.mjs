// What keeps highway's etcd busy while nothing happens (docs/architecture.md, "What highway costs while
// nothing happens"): highway's etcd beside a bare one, the same image with the same command line and
// environment but no TLS and no client, in the same windows: with highway's agent running, then with it
// stopped. The difference between the two windows is what serving the agent costs etcd (its lease
// keep-alives, its report puts, its pings); what is left between the two etcds is TLS and the container's
// network. A diagnostic, not a section of docs/benchmarks.md: run it by hand.
//
//   node bench/etcd-idle.mjs [IDLE_S]     (default 60)
import {BENCH_LABEL, bench, cpuPercentOver, dockerOut, fmt, infraImage, log, must, relaunchUnderLock, sleep} from './lib/common.mjs'
import {CONTAINERS, componentsOf, etcdCommand} from './lib/highway.mjs'

relaunchUnderLock(import.meta.url)
const IDLE_S = Number(process.argv[2] ?? process.env.IDLE_S ?? 60)
const SETTLE_S = Number(process.env.SETTLE_S ?? 15)
process.env.HIGHWAY_BENCH_LIMIT_S ??= String(120 + 2 * SETTLE_S + 2 * IDLE_S)
const BARE = 'bench-etcd-bare'

/** % of one core each container used over IDLE_S seconds. */
async function window(label, names) {
  const ids = Object.fromEntries(await Promise.all(names.map(async (name) => [name, await dockerOut('inspect', '--format', '{{.Id}}', name)])))
  const {seconds, percent} = await cpuPercentOver(ids, IDLE_S * 1000)
  log(`[${label}] % of one core over ${seconds.toFixed(1)} s: ${names.map((name) => `${name} ${fmt(percent[name], 3)}`).join(', ')}`)
  return {seconds, percent}
}

await bench('etcd-idle', async ({onAbort}) => {
  const image = await infraImage()
  const command = etcdCommand('127.0.0.1')
  // GOMAXPROCS, GOGC: what shapes Go's runtime, as highway sets it.
  const env = componentsOf().etcd.create.Env.filter((variable) => variable.startsWith('GO'))
  await must('docker', ['run', '-d', '--label', BENCH_LABEL, '--name', BARE, ...env.flatMap((variable) => ['-e', variable]), image, ...command])
  await sleep(SETTLE_S * 1000)
  const withAgent = await window('agent running', [CONTAINERS.etcd, BARE, CONTAINERS.agent])
  onAbort(() => must('docker', ['start', CONTAINERS.agent]))
  await must('docker', ['stop', CONTAINERS.agent])
  let withoutAgent
  try {
    await sleep(SETTLE_S * 1000)
    withoutAgent = await window('agent stopped', [CONTAINERS.etcd, BARE])
  } finally {
    await must('docker', ['start', CONTAINERS.agent])
  }
  const etcd = (w) => w.percent[CONTAINERS.etcd]
  const bare = (w) => w.percent[BARE]
  const agentCost = etcd(withAgent) - bare(withAgent) - (etcd(withoutAgent) - bare(withoutAgent))
  log(
    `serving the agent cost etcd ${fmt(agentCost, 3)}% of a core (highway's etcd over the bare one: ${fmt(etcd(withAgent) - bare(withAgent), 3)} with the agent, ${fmt(etcd(withoutAgent) - bare(withoutAgent), 3)} without)`,
  )
  return {idleSeconds: IDLE_S, command, env, withAgent, withoutAgent, agentCostPercent: +agentCost.toFixed(3)}
})
