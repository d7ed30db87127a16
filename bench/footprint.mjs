// Figure 8: footprint. What highway costs while nothing happens: the CPU time of its four containers
// over IDLE_S seconds with no services and with 20 services nobody calls, their memory with 0, 20
// and 1,000 services, and the size of the infrastructure image.
//
//   node bench/footprint.mjs [IDLE_S]     (default 60; `IDLE_SERVICES=20`, `SERVICES=1000`)
//
// CPU comes from each container's cgroup CPU accounting (the kernel's own counter of CPU time, in
// ns), read before and after the idle window: `docker stats` samples too coarsely for a fraction of
// a percent. Memory is the cgroup's RSS (anonymous memory: what the processes hold, not the page
// cache of the image's files, which the kernel can drop). Nothing is called during a window; each
// starts STARTUP_S seconds after the last change (`up`, or the 20 services' starts), so what that change
// caused is over. A container that only sleeps is measured in the same windows: what the accounting
// itself reads for a process that does nothing (it should be 0).
//
// The 1,000 services are fake records written straight into etcd under the real schema, as
// bench/scale.mjs does (see there): another host's records, all pointing at one real backend.
//
// highway is restarted first (`down`, then `up`): its processes start fresh, so the figures do not
// depend on what ran before (a churn benchmark just before grew them by half). What use leaves
// behind is measured on its own, last: 0 services again once the 1,000 are gone, AFTER_S seconds on.
import {randomBytes} from 'node:crypto'
import {
  ENV,
  APP_IMAGE,
  BENCH_LABEL,
  NODE_BACKEND,
  bench,
  busyboxServe,
  dockerOut,
  ensureAppImage,
  fmt,
  highway,
  httpGet,
  infraImage,
  isRouted,
  log,
  must,
  now,
  containerIp,
  cpuPercentOver,
  relaunchUnderLock,
  rssMiB,
  sleep,
  up,
} from './lib/common.mjs'
import {CONTAINERS, createClients, loadSettings, serviceKey} from './lib/highway.mjs'

relaunchUnderLock(import.meta.url)
const IDLE_S = Number(process.argv[2] ?? process.env.IDLE_S ?? 60)
const IDLE_SERVICES = Number(process.env.IDLE_SERVICES ?? 20)
const SERVICES = Number(process.env.SERVICES ?? 1000)
const SETTLE_S = Number(process.env.SETTLE_S ?? 5)
// Nothing is idle just after a change: after `up`, the agent's first reconcile and lease and HAProxy's
// first checks; after 20 starts, the agent's 40 events and the garbage they left (measured in 20 s
// windows after them: the agent 0.37% of a core, then 0.20, then 0.04-0.09 from 40 s on). Each window
// waits this long after its change.
const STARTUP_S = Number(process.env.STARTUP_S ?? 30)
const AFTER_S = Number(process.env.AFTER_S ?? 30)
// Two idle windows, a restart, 1,000 records and the wait after them: more than the default limit on holding the lock.
process.env.HIGHWAY_BENCH_LIMIT_S ??= String(240 + 2 * STARTUP_S + 2 * IDLE_S)
const FAKE_HOST = 'benchfakehost'
const COMPONENTS = Object.keys(CONTAINERS)
const BASELINE = 'bench-footprint-sleep'

async function ids() {
  const out = {}
  for (const component of COMPONENTS) out[component] = await dockerOut('inspect', '--format', '{{.Id}}', CONTAINERS[component])
  return out
}

/** Per component and in total: % of one core over the window. */
async function idleCpu(label) {
  const containers = {...(await ids()), baseline: await dockerOut('inspect', '--format', '{{.Id}}', BASELINE)}
  const {seconds, percent} = await cpuPercentOver(containers, IDLE_S * 1000)
  const total = +COMPONENTS.reduce((sum, c) => sum + percent[c], 0).toFixed(3)
  log(
    `[${label}] idle CPU over ${seconds.toFixed(1)} s, % of one core: ${COMPONENTS.map((c) => `${c} ${fmt(percent[c], 3)}`).join(', ')}; ` +
      `total ${fmt(total, 3)} (a sleeping container: ${fmt(percent.baseline, 3)})`,
  )
  return {seconds, percent, total}
}

async function memory(label) {
  const containers = await ids()
  const mib = Object.fromEntries(COMPONENTS.map((c) => [c, rssMiB(containers[c])]))
  const total = +Object.values(mib)
    .reduce((a, b) => a + b, 0)
    .toFixed(1)
  log(`[${label}] RSS MiB: ${COMPONENTS.map((c) => `${c} ${mib[c]}`).join(', ')}; total ${total}`)
  return {mib, total}
}

async function untilRouted(cfg, name, timeoutMs = 120_000, routed = true) {
  const deadline = now() + timeoutMs
  for (;;) {
    const answer = await httpGet(cfg.bridgeIp, 80, `${name}.${cfg.domain}`).catch(() => ({}))
    if (routed ? isRouted(answer) : answer.status === 404) return
    if (now() > deadline) throw new Error(`${name} was not ${routed ? 'routed' : 'gone'} within ${timeoutMs} ms`)
    await sleep(50)
  }
}

/** The image's size and its largest layers (`docker history`), in MB as Docker counts them (10^6). */
async function imageSize(image) {
  const bytes = Number(await dockerOut('image', 'inspect', '--format', '{{.Size}}', image))
  const history = (await dockerOut('history', '--no-trunc', '--format', '{{json .}}', image)).split('\n').map((line) => JSON.parse(line))
  const layers = []
  for (const entry of history) {
    const size = /^([\d.]+)\s*([kMG]?B)$/.exec(entry.Size ?? '')
    const mb = size ? Number(size[1]) * {B: 1e-6, kB: 1e-3, MB: 1, GB: 1000}[size[2]] : 0
    if (mb >= 0.1) layers.push({mb: +mb.toFixed(1), step: entry.CreatedBy.replace(/\s+/g, ' ').slice(0, 140)})
  }
  log(`image ${image}: ${(bytes / 1e6).toFixed(1)} MB`)
  for (const layer of layers) log(`    ${fmt(layer.mb).padStart(7)} MB  ${layer.step}`)
  // Where the bytes go inside it: the largest directories three levels down, in MB (10^6).
  const du = (await dockerOut('run', '--rm', '--label', BENCH_LABEL, image, 'du', '-x', '-B1', '-d', '3', '/'))
    .split('\n')
    .map((line) => line.split('\t'))
    .map(([size, dir]) => ({dir, mb: +(Number(size) / 1e6).toFixed(1)}))
    .filter((entry) => entry.dir !== '/' && entry.mb >= 5)
    .sort((a, b) => b.mb - a.mb)
    .slice(0, 15)
  log(`largest directories: ${du.map((entry) => `${entry.dir} ${fmt(entry.mb)}`).join(', ')}`)
  const files = (await dockerOut('run', '--rm', '--label', BENCH_LABEL, image, 'find', '/', '-xdev', '-type', 'f', '-size', '+3M', '-printf', '%s %p\\n'))
    .split('\n')
    .filter(Boolean)
    .map((line) => ({file: line.slice(line.indexOf(' ') + 1), mb: +(Number(line.slice(0, line.indexOf(' '))) / 1e6).toFixed(1)}))
    .sort((a, b) => b.mb - a.mb)
  log(`largest files: ${files.map((entry) => `${entry.file} ${fmt(entry.mb)}`).join(', ')}`)
  return {image, mb: +(bytes / 1e6).toFixed(1), layers, du, files}
}

await bench('footprint', async ({settings: cfg}) => {
  const image = await infraImage()
  const size = await imageSize(image)
  const down = await highway(['down'], {timeout: 120_000})
  if (down.code !== 0) throw new Error(`highway down: ${down.stderr}`)
  const restart = await up()
  log(`highway restarted (down, up: ${fmt(restart / 1000, 1)} s): every process starts fresh; ${STARTUP_S} s for it to settle`)

  await must('docker', ['run', '-d', '--label', BENCH_LABEL, '--name', BASELINE, image, 'sleep', 'infinity'])
  await sleep(STARTUP_S * 1000)
  const idle = {}
  const mem = {}
  idle[0] = await idleCpu('0 services')
  mem[0] = await memory('0 services')

  await ensureAppImage()
  const names = Array.from({length: IDLE_SERVICES}, (_, i) => `bench-idle-${i}`)
  for (const name of names) {
    const result = await highway(['run', '-d', '--name', name, '-p', '9090', '--label', BENCH_LABEL, APP_IMAGE, ...busyboxServe(name)])
    if (result.code !== 0) throw new Error(`highway run ${name}: ${result.stderr}`)
  }
  for (const name of names) await untilRouted(cfg, name)
  log(`${IDLE_SERVICES} services routed; ${STARTUP_S} s for their starts to settle`)
  await sleep(STARTUP_S * 1000)
  idle[IDLE_SERVICES] = await idleCpu(`${IDLE_SERVICES} services`)
  mem[IDLE_SERVICES] = await memory(`${IDLE_SERVICES} services`)
  for (let i = 0; i < names.length; i += 50) await must('docker', ['rm', '-f', ...names.slice(i, i + 50)])

  // The fake services' one real server: a plain container, not a highway service itself.
  await must('docker', ['run', '-d', '--label', BENCH_LABEL, '--name', 'bench-footprint-backend', '-p', `${cfg.bridgeIp}::9090`, image, ...NODE_BACKEND])
  // Another host's records may not name this host's bridge (the registry refuses them), so the fake
  // host's services are at the backend's own address.
  const backendAddress = await containerIp('bench-footprint-backend')
  // As etcd's root user, through highway's own registry client, as bench/scale.mjs does (see there).
  const clients = createClients(ENV)
  const etcd = clients.admin(loadSettings(ENV))
  const lease = etcd.lease(60)
  try {
    await lease.grant()
    const fakes = Array.from({length: SERVICES}, (_, i) => `bench-fake-${String(i).padStart(4, '0')}`)
    for (let i = 0; i < fakes.length; i += 100) {
      await Promise.all(
        fakes.slice(i, i + 100).map((name) => {
          const record = {
            schema: 2,
            name,
            state: 'running',
            ports: [{containerPort: '9090/tcp', address: backendAddress, port: 9090}],
            hostId: FAKE_HOST,
            hostName: 'bench-fake-host',
            containerId: randomBytes(32).toString('hex'),
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
    for (const name of [fakes.at(-1), fakes[0]]) await untilRouted(cfg, name)
    // Old workers of the reloads the fill caused linger up to hard-stop-after: wait them out.
    await sleep(Math.max(SETTLE_S, 10) * 1000)
    mem[SERVICES] = await memory(`${SERVICES} services`)
  } finally {
    await lease.revoke().catch((error) => console.error(`lease revoke failed (the records expire in 60 s): ${error.message}`))
    clients.close()
  }
  // What the 1,000 leave behind: the same 0 services as at the start, once the proxy has dropped them
  // and the processes have had AFTER_S seconds of nothing to give memory back.
  await untilRouted(cfg, `bench-fake-${String(SERVICES - 1).padStart(4, '0')}`, 120_000, false)
  await sleep(AFTER_S * 1000)
  const after = {services: SERVICES, seconds: AFTER_S, ...(await memory(`0 services, ${AFTER_S} s after ${SERVICES}`))}

  const idleMax = Math.max(...Object.values(idle).map((x) => x.total))
  const memMax = Math.max(...Object.values(mem).map((x) => x.total))
  log(
    `idle CPU at most ${fmt(idleMax, 3)}% of one core (target 0.5%); RSS at most ${fmt(memMax)} MiB (target 100 MiB), ` +
      `${fmt(after.total)} MiB with 0 services after ${SERVICES}; image ${size.mb} MB`,
  )
  return {
    idleSeconds: IDLE_S,
    settleSeconds: STARTUP_S,
    idleServices: IDLE_SERVICES,
    services: SERVICES,
    restartMs: Math.round(restart),
    idle,
    memory: mem,
    memoryAfter: after,
    image: size,
  }
})
