// Shared helpers for the benchmark scripts under bench/. Plain Node ESM, no build step.
//
// Every script takes the machine-wide Docker lock itself (relaunching under `flock`), uses its own
// highway config directory, brings highway up first (idempotent), labels every container it
// creates with BENCH_LABEL and removes them all before it exits, whatever happened.
import {spawn, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {request} from 'node:http'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {CONFIG_PATH, CONTAINERS, HIGHWAY_HEADER, MASTER_SOCKET} from './highway.mjs'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const BIN = join(ROOT, 'bin', 'run.cjs')
export const LOCK = process.env.HIGHWAY_BENCH_LOCK || '/tmp/highway-docker.lock'
export const CONFIG_DIR = process.env.HIGHWAY_CONFIG_DIR || '/tmp/highway-bench-config'
export const RESULTS_DIR = process.env.HIGHWAY_BENCH_RESULTS || join(ROOT, 'bench', 'results')
export const APP_IMAGE = 'highway-test/busybox:1'
/** Every container a benchmark creates carries this label; cleanup removes exactly those. */
export const BENCH_LABEL = 'highway-bench=1'
export const ENV = {...process.env, HIGHWAY_CONFIG_DIR: CONFIG_DIR, NO_COLOR: '1'}

/** Wall clock in ms with sub-ms precision, comparable across processes on this host. */
export const now = () => performance.timeOrigin + performance.now()

/** The first of `list` (items with `at`, in arrival order) at or after `since` that `match` accepts. */
export const firstAfter = (list, since, match) => list.find((item) => item.at >= since && match(item))
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/**
 * Re-executes the calling script under `flock LOCK` unless it already holds the lock: one flock per
 * benchmark run, so the end-to-end suite never sees highway change under it.
 */
export function relaunchUnderLock(scriptUrl) {
  if (process.env.HIGHWAY_BENCH_LOCKED === '1') return
  const script = fileURLToPath(scriptUrl)
  const waited = now()
  // execArgv too: a script started with a loader (`node --import tsx`) keeps it under the lock.
  const child = spawnSync('flock', [LOCK, process.execPath, ...process.execArgv, script, ...process.argv.slice(2)], {
    env: {...process.env, HIGHWAY_BENCH_LOCKED: '1', HIGHWAY_BENCH_LOCK_WAIT_STARTED: String(waited)},
    stdio: 'inherit',
  })
  if (child.error) {
    console.error(`bench: cannot run flock (${child.error.message})`)
    process.exit(1)
  }
  process.exit(child.status ?? 1)
}

export function log(...parts) {
  console.log(...parts)
}

/** Runs a command; resolves with code, output and wall time (ms). Never rejects on a non-zero exit. */
export function run(command, args, options = {}) {
  return new Promise((resolvePromise, reject) => {
    const started = now()
    const child = spawn(command, args, {env: options.env ?? ENV, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeout ?? 120_000)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolvePromise({code: code ?? (signal ? 128 : 1), ms: now() - started, stderr, stdout})
    })
  })
}

/** Like run, but throws with the command's stderr when it fails. */
export async function must(command, args, options = {}) {
  const result = await run(command, args, options)
  if (result.code !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${result.code}: ${(result.stderr || result.stdout).trim().slice(0, 800)}`)
  }
  return result
}

export const highway = (args, options) => run(process.execPath, [BIN, ...args], options)
export const docker = (args, options) => run('docker', args, options)
export async function dockerOut(...args) {
  return (await must('docker', args)).stdout.trim()
}

export function settings() {
  const saved = JSON.parse(readFileSync(join(CONFIG_DIR, 'settings.json'), 'utf8'))
  return {domain: saved.domain ?? 'local', bridgeIp: saved.bridgeIp}
}

/** `highway up` (idempotent); returns its wall time. */
export async function up() {
  const result = await highway(['up'], {timeout: 300_000})
  if (result.code !== 0) throw new Error(`highway up failed: ${result.stderr || result.stdout}`)
  return result.ms
}

export async function ensureAppImage() {
  await must('bash', [join(ROOT, 'scripts', 'demo-image.sh'), APP_IMAGE])
}

/** The infrastructure image the running proxy uses (it has node, haproxy and etcd). */
export async function infraImage() {
  return dockerOut('inspect', '--format', '{{.Config.Image}}', CONTAINERS.proxy)
}

export async function containerIp(name) {
  return dockerOut('inspect', '--format', '{{.NetworkSettings.IPAddress}}', name)
}

/** Host port a container publishes `containerPort` on (its binding on the bridge IP). */
export async function publishedPort(name, containerPort = '9090/tcp') {
  const out = await dockerOut('inspect', '--format', `{{json (index .NetworkSettings.Ports "${containerPort}")}}`, name)
  const bindings = JSON.parse(out) ?? []
  return Number(bindings[0]?.HostPort)
}

/** Removes every container carrying the bench label. */
export async function cleanup() {
  const ids = (await dockerOut('ps', '-aq', '--filter', `label=${BENCH_LABEL}`)).split('\n').filter(Boolean)
  for (let i = 0; i < ids.length; i += 50) await docker(['rm', '-f', ...ids.slice(i, i + 50)])
  return ids.length
}

/** Paths a benchmark run itself writes: they may differ from the commit without touching a figure. */
export const GENERATED = ['bench/results', 'docs/benchmarks.md']

/**
 * The commit the working tree is at, when it was made, and every path that differs from it (untracked
 * files included: a new source file changes the build), the benchmark's own outputs aside.
 */
export function gitState() {
  const git = (...args) => spawnSync('git', ['-C', ROOT, ...args], {encoding: 'utf8'})
  const head = git('log', '-1', '--format=%H %cI')
  const status = git('status', '--porcelain', '--', '.', ...GENERATED.map((path) => `:(exclude)${path}`))
  if (head.status !== 0 || status.status !== 0) return {commit: null, committedAt: null, changes: [`git failed: ${(head.stderr || status.stderr).trim()}`]}
  const [commit, committedAt] = head.stdout.trim().split(' ')
  return {commit, committedAt, changes: status.stdout.split('\n').filter(Boolean)}
}

/** When dist/ was last built (bin/run.cjs runs it): a rebuild in the middle of a run mixes two versions. */
export function distBuiltAt() {
  try {
    return statSync(join(ROOT, 'dist', 'service', 'run.js')).mtime.toISOString()
  } catch {
    return null
  }
}

/**
 * Runs `main` with highway up and the bench containers cleaned before and after (also on Ctrl-C).
 * `main` receives {settings, onAbort}: onAbort(fn) registers a teardown of what it set up beyond
 * containers (another host, a namespace), run before the exit on Ctrl-C or past the limit, where
 * `main`'s own finally never runs. What `main` returns is written to RESULTS_DIR/<name>.json, with the commit
 * it measured and whether the tree differed from it (bench/report.mjs refuses such figures).
 */
export async function bench(name, main) {
  const lockWait = process.env.HIGHWAY_BENCH_LOCK_WAIT_STARTED ? now() - Number(process.env.HIGHWAY_BENCH_LOCK_WAIT_STARTED) : 0
  const started = now()
  let failed = false
  let interrupted = false
  const teardowns = []
  const abort = async () => {
    for (const teardown of teardowns) await teardown().catch((error) => console.error(`${name}: teardown failed: ${error.message}`))
    await cleanup().catch(() => {})
  }
  const onSignal = async () => {
    if (interrupted) return
    interrupted = true
    console.error(`\n${name}: interrupted, removing bench containers`)
    await abort()
    process.exit(130)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  // The lock must never be held for long: past the limit, clean up and exit whatever is running.
  const limitS = Number(process.env.HIGHWAY_BENCH_LIMIT_S ?? 295)
  setTimeout(async () => {
    console.error(`${name}: FAILED, still running after ${limitS} s (HIGHWAY_BENCH_LIMIT_S); removing bench containers`)
    await abort()
    process.exit(1)
  }, limitS * 1000).unref()
  try {
    log(`== ${name} (lock wait ${(lockWait / 1000).toFixed(1)} s)`)
    await cleanup()
    const upMs = await up()
    const cfg = settings()
    log(`highway up: ${upMs.toFixed(0)} ms; bridge ${cfg.bridgeIp}, domain ${cfg.domain}`)
    const built = distBuiltAt()
    const git = gitState()
    if (git.changes.length)
      console.error(`${name}: WARNING uncommitted changes (${git.changes.length} path(s)): bench/report.mjs will not publish these figures`)
    const image = await infraImage().catch(() => null)
    const result = await main({settings: cfg, onAbort: (teardown) => teardowns.push(teardown)})
    const rebuilt = distBuiltAt() !== built
    const gitAfter = gitState()
    if (rebuilt) console.error(`${name}: WARNING dist/ was rebuilt during this run (${built} -> ${distBuiltAt()}): figures mix two builds`)
    const record = {
      bench: name,
      date: new Date().toISOString(),
      durationS: +((now() - started) / 1000).toFixed(1),
      commit: git.commit,
      committedAt: git.committedAt,
      // Changes at the start or the end of the run (a commit or an edit in the middle counts too).
      uncommitted:
        gitAfter.commit === git.commit
          ? [...new Set([...git.changes, ...gitAfter.changes])]
          : [...git.changes, `HEAD moved to ${gitAfter.commit} during the run`],
      distBuiltAt: built,
      distRebuiltDuringRun: rebuilt,
      infraImage: image,
      ...result,
    }
    mkdirSync(RESULTS_DIR, {recursive: true})
    writeFileSync(join(RESULTS_DIR, `${name}.json`), `${JSON.stringify(record, null, 2)}\n`)
    log(`${name}: done in ${record.durationS} s -> ${join(RESULTS_DIR, `${name}.json`)}`)
  } catch (error) {
    failed = true
    console.error(`${name} FAILED: ${error.stack ?? error}`)
  } finally {
    const removed = await cleanup().catch((error) => {
      console.error(`cleanup failed: ${error.message}`)
      failed = true
      return 0
    })
    if (removed) log(`removed ${removed} bench container(s)`)
  }
  // Exit now: a client left open by a failure (etcd's gRPC channel, a socket) must not keep this
  // process, and with it the Docker lock, alive.
  process.exit(failed ? 1 : 0)
}

// ---- cgroups: a container's CPU time and memory, from the kernel's own accounting --------------

/** The container's cgroup directory for `controller` (cgroup v1, Docker's cgroupfs layout), or its v2 directory. */
function cgroupDir(controller, id) {
  for (const dir of [`/sys/fs/cgroup/${controller}/docker/${id}`, `/sys/fs/cgroup/system.slice/docker-${id}.scope`, `/sys/fs/cgroup/docker/${id}`]) {
    if (existsSync(dir)) return dir
  }
  throw new Error(`no cgroup directory for container ${id.slice(0, 12)} (${controller})`)
}

/** CPU time the container has used since it started, in ns. */
export function cpuNs(id) {
  const dir = cgroupDir('cpuacct', id)
  if (existsSync(`${dir}/cpuacct.usage`)) return Number(readFileSync(`${dir}/cpuacct.usage`, 'utf8'))
  const usec = /^usage_usec (\d+)$/m.exec(readFileSync(`${dir}/cpu.stat`, 'utf8'))
  return Number(usec[1]) * 1000
}

/** % of one core each container (`{key: container id}`) used while `ms` pass, and the seconds it measured. */
export async function cpuPercentOver(ids, ms) {
  const keys = Object.keys(ids)
  const before = Object.fromEntries(keys.map((key) => [key, cpuNs(ids[key])]))
  const started = now()
  await sleep(ms)
  const after = Object.fromEntries(keys.map((key) => [key, cpuNs(ids[key])]))
  const seconds = (now() - started) / 1000
  const percent = Object.fromEntries(keys.map((key) => [key, +((after[key] - before[key]) / 1e9 / seconds / 0.01).toFixed(3)]))
  return {seconds: +seconds.toFixed(1), percent}
}

/** Anonymous memory the container's processes hold, in MiB (v1 `rss`, v2 `anon`). */
export function rssMiB(id) {
  const stat = readFileSync(`${cgroupDir('memory', id)}/memory.stat`, 'utf8')
  const bytes = /^(?:total_rss|anon) (\d+)$/m.exec(stat)
  return +(Number(bytes[1]) / 1048576).toFixed(1)
}

// ---- statistics -----------------------------------------------------------------------------

/** Percentile with linear interpolation between closest ranks (p in 0..100). */
export function percentile(values, p) {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = (p / 100) * (sorted.length - 1)
  const low = Math.floor(rank)
  const high = Math.ceil(rank)
  return sorted[low] + (sorted[high] - sorted[low]) * (rank - low)
}

export const median = (values) => percentile(values, 50)

export function summary(values, digits = 2) {
  const round = (v) => +v.toFixed(digits)
  return {
    n: values.length,
    min: round(Math.min(...values)),
    p50: round(percentile(values, 50)),
    p95: round(percentile(values, 95)),
    p99: round(percentile(values, 99)),
    max: round(Math.max(...values)),
  }
}

export const fmt = (v, digits = 1) => (Number.isFinite(v) ? v.toFixed(digits) : String(v))

// ---- HTTP -----------------------------------------------------------------------------------

/** One GET on a fresh connection (keep-alive off), the way a polling client sees the proxy. */
export function httpGet(address, port, host, timeoutMs = 1000) {
  return new Promise((resolvePromise, reject) => {
    const req = request({agent: false, headers: {connection: 'close', host}, host: address, path: '/', port, timeout: timeoutMs}, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => (body += chunk))
      res.on('end', () => resolvePromise({body, kind: res.headers[HIGHWAY_HEADER] ?? null, status: res.statusCode}))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)))
    req.on('error', reject)
    req.end()
  })
}

/**
 * Polls the proxy for `host` every `interval` ms until `done(answer)` is true; resolves with the
 * time of the first matching answer (when it arrived) and the number of polls.
 */
export async function pollProxy(cfg, host, done, {interval = 1, timeout = 20_000} = {}) {
  const deadline = now() + timeout
  let polls = 0
  for (;;) {
    polls++
    let answer = null
    try {
      answer = await httpGet(cfg.bridgeIp, 80, host, 1000)
    } catch (error) {
      answer = {error: error.message}
    }
    const at = now()
    if (done(answer)) return {at, polls, answer}
    if (at > deadline) throw new Error(`${host}: no matching proxy answer within ${timeout} ms (last: ${JSON.stringify(answer).slice(0, 200)})`)
    if (interval > 0) await sleep(interval)
  }
}

export const isRouted = (answer) => answer.status === 200 && !answer.kind
export const isStopped = (answer) => answer.status === 503 && answer.kind === 'stopped'

// ---- Docker engine API over the socket (precise timing without the CLI's start-up) ------------

/** This machine's engine socket (DOCKER_HOST when it names one); another host's engine passes its own to dockerApi/dockerEvents. */
export const DOCKER_SOCKET = process.env.DOCKER_HOST?.startsWith('unix://') ? process.env.DOCKER_HOST.slice(7) : '/var/run/docker.sock'

export function dockerApi(method, path, body, socketPath = DOCKER_SOCKET) {
  return new Promise((resolvePromise, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const req = request(
      {
        headers: payload ? {'content-length': Buffer.byteLength(payload), 'content-type': 'application/json'} : {},
        method,
        path: `/v1.41${path}`,
        socketPath,
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk) => (text += chunk))
        res.on('end', () => {
          if (res.statusCode >= 300 && res.statusCode !== 304) reject(new Error(`docker ${method} ${path}: ${res.statusCode} ${text.trim()}`))
          else resolvePromise(text ? JSON.parse(text) : null)
        })
      },
    )
    req.on('error', reject)
    req.end(payload)
  })
}

/**
 * Follows Docker's event stream for containers carrying `label`; `onEvent` gets each event with
 * `at` = the engine's own timestamp in epoch ms (timeNano). Returns a function that stops it.
 */
export function dockerEvents(label, onEvent, socketPath = DOCKER_SOCKET) {
  const filters = encodeURIComponent(JSON.stringify({label: [label], type: ['container']}))
  const req = request({method: 'GET', path: `/v1.41/events?filters=${filters}`, socketPath}, (res) => {
    let buffer = ''
    res.setEncoding('utf8')
    res.on('data', (chunk) => {
      buffer += chunk
      let newline
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline)
        buffer = buffer.slice(newline + 1)
        if (!line.trim()) continue
        const event = JSON.parse(line)
        onEvent({action: event.Action, at: Number(BigInt(event.timeNano) / 1000n) / 1000, id: event.id ?? event.Actor?.ID, name: event.Actor?.Attributes?.name})
      }
    })
  })
  req.on('error', () => {})
  req.end()
  return () => req.destroy()
}

/** A command on HAProxy's master CLI, run inside the agent container (which mounts the socket and has node). */
export async function masterCli(command) {
  // While the master re-executes itself for a reload (the agent's), its socket refuses connections.
  for (let attempt = 0; ; attempt++) {
    const script = `const s=require('net').createConnection(${JSON.stringify(MASTER_SOCKET)});let o='';s.on('connect',()=>s.end(${JSON.stringify(`${command}\n`)}));s.on('data',d=>o+=d);s.on('close',()=>process.stdout.write(o));s.on('error',e=>{console.error(e.message);process.exit(1)})`
    const result = await run('docker', ['exec', CONTAINERS.agent, 'node', '-e', script])
    if (result.code === 0) return result.stdout
    if (attempt >= 20 || !/ECONNREFUSED|ENOENT/.test(result.stderr)) throw new Error(`master CLI "${command}": ${result.stderr.trim()}`)
    await sleep(100)
  }
}

/** Master's reload counter (`show proc`). */
export async function reloadCount() {
  const out = await masterCli('show proc')
  const line = out.split('\n').find((l) => /\bmaster\b/.test(l))
  return Number(line?.trim().split(/\s+/)[2] ?? NaN)
}

/** `docker stats --no-stream` memory of one container, in MiB. */
export async function memoryMiB(name) {
  const usage = (await dockerOut('stats', '--no-stream', '--format', '{{.MemUsage}}', name)).split('/')[0].trim()
  const match = /^([\d.]+)\s*([KMG]i?B|B)$/.exec(usage)
  if (!match) return NaN
  const scale = {B: 1 / 1048576, KiB: 1 / 1024, kB: 1 / 1024, MiB: 1, MB: 1, GiB: 1024, GB: 1024}[match[2]] ?? NaN
  return +(Number(match[1]) * scale).toFixed(1)
}

/** The keep-alive backend: a tiny Node HTTP server in the infrastructure image. */
export const NODE_BACKEND = [
  'node',
  '-e',
  "const s=require('http').createServer((q,r)=>r.end('ok'));s.keepAliveTimeout=120000;s.headersTimeout=121000;s.listen(9090)",
]

/**
 * Starts the keep-alive backend as a highway service named `name`, then waits until the proxy
 * answers 200 for it (HAProxy may first answer its own 503 for a while: see firstOkAfterMs).
 */
export async function startNodeBackend(name, image) {
  const result = await highway(['run', '-d', '--name', name, '-p', '9090', '--label', BENCH_LABEL, image, ...NODE_BACKEND])
  if (result.code !== 0) throw new Error(`highway run ${name} failed: ${result.stderr}`)
  const returned = now()
  const cfg = settings()
  let notOk = 0
  for (;;) {
    const answer = await httpGet(cfg.bridgeIp, 80, `${name}.${cfg.domain}`).catch((error) => ({error: error.message}))
    if (answer.status === 200) break
    notOk++
    if (now() - returned > 15_000)
      throw new Error(`${name}: no 200 through the proxy 15 s after highway run returned (last: ${JSON.stringify(answer).slice(0, 200)})`)
    await sleep(5)
  }
  const firstOkAfterMs = +(now() - returned).toFixed(0)
  return {containerIp: await containerIp(name), port: await publishedPort(name), firstOkAfterMs, notOkAnswers: notOk, runMs: +result.ms.toFixed(0)}
}

/** A busybox httpd service command line (closes every connection: fine for routing, not for load). */
export function busyboxServe(text, port = 9090) {
  return ['sh', '-c', `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p ${port} -h /www`]
}

/**
 * Times, inside the agent container (same binary, same files), the two steps the agent takes per
 * route change: `haproxy -c` of the current config and a master-CLI `reload` (which answers once
 * the new worker is up). A reload with an unchanged config changes no route.
 */
export async function agentStepTimings(runs = 5) {
  const script = `
const {execFileSync} = require('child_process'), net = require('net');
const t = () => Number(process.hrtime.bigint()) / 1e6;
const check = [], reload = [];
const once = (cmd) => new Promise((res, rej) => { const s = net.createConnection(${JSON.stringify(MASTER_SOCKET)}); let o = '';
  s.on('connect', () => s.end(cmd + '\\n')); s.on('data', (d) => (o += d)); s.on('close', () => res(o)); s.on('error', rej); });
// The socket refuses connections while the master re-executes for a reload (e.g. the agent's).
const cli = async (cmd) => { for (let i = 0; ; i++) { try { return await once(cmd) } catch (e) { if (i > 40 || e.code !== 'ECONNREFUSED') throw e; await new Promise((r) => setTimeout(r, 50)) } } };
(async () => {
  for (let i = 0; i < ${runs}; i++) {
    let s = t(); execFileSync('haproxy', ['-c', '-q', '-f', ${JSON.stringify(CONFIG_PATH)}]); check.push(t() - s);
    s = t(); const out = await cli('reload'); reload.push(t() - s);
    if (!/Success=1/.test(out)) throw new Error('reload failed: ' + out);
    await new Promise((r) => setTimeout(r, 300));
  }
  const lines = require('fs').readFileSync(${JSON.stringify(CONFIG_PATH)}, 'utf8').split('\\n').length;
  console.log(JSON.stringify({check, reload, configLines: lines}));
})().catch((e) => { console.error(e.message); process.exit(1); });`
  const out = JSON.parse((await must('docker', ['exec', CONTAINERS.agent, 'node', '-e', script], {timeout: 120_000})).stdout)
  return {checkMs: summary(out.check, 1), reloadMs: summary(out.reload, 1), configLines: out.configLines}
}

/**
 * Sends one GET for `host` to the proxy every `interval` ms on a fresh connection, without waiting
 * for earlier answers (a request stuck on a dead backend must not hide the proxy's new state), until
 * an answer satisfies `done`. Resolves with the arrival time of the first such answer, after every
 * request in flight has finished, with the requests that got neither state (e.g. HAProxy's own 503
 * after its retries on a dead server) and their latencies, and how many of each answer came back
 * (`answers`: "200", "503 stopped", "error", ...).
 */
export function watchTransition(cfg, host, done, {interval = 1, timeout = 20_000, requestTimeout = 3000} = {}) {
  return new Promise((resolvePromise, reject) => {
    const started = now()
    let matchedAt = null
    let sent = 0
    let inFlight = 0
    const odd = []
    const answers = {}
    const finish = () => {
      if (matchedAt !== null && inFlight === 0) resolvePromise({at: matchedAt, odd, sent, answers})
    }
    const send = () => {
      if (matchedAt !== null) return
      if (now() - started > timeout) {
        reject(new Error(`${host}: no matching proxy answer within ${timeout} ms`))
        return
      }
      sent++
      inFlight++
      const sentAt = now()
      httpGet(cfg.bridgeIp, 80, host, requestTimeout)
        .catch((error) => ({error: error.message}))
        .then((answer) => {
          const at = now()
          inFlight--
          const key = answer.error ? 'error' : `${answer.status}${answer.kind ? ` ${answer.kind}` : ''}`
          answers[key] = (answers[key] ?? 0) + 1
          if (done(answer)) {
            if (matchedAt === null || at < matchedAt) matchedAt = at
          } else if (answer.error || (answer.status >= 500 && !answer.kind)) {
            odd.push({ms: +(at - sentAt).toFixed(1), status: answer.status ?? 0, error: answer.error})
          }
          finish()
        })
      setTimeout(send, interval)
    }
    send()
  })
}

/**
 * bench/lib/load-cli.mjs in a process of its own (so this script's work never stalls it): fixed-rate
 * keep-alive load until `stop()`. `done` resolves with its result (see bench/lib/load.mjs).
 */
export function startLoad(options) {
  const outFile = join(mkdtempSync(join(tmpdir(), 'highway-bench-load-')), 'result.json')
  const child = spawn(process.execPath, [join(ROOT, 'bench', 'lib', 'load-cli.mjs'), JSON.stringify(options), outFile], {stdio: ['pipe', 'inherit', 'inherit']})
  const done = new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => {
      try {
        if (code !== 0) throw new Error(`load generator exited ${code}`)
        resolve(JSON.parse(readFileSync(outFile, 'utf8')))
      } catch (error) {
        reject(error)
      } finally {
        rmSync(dirname(outFile), {force: true, recursive: true})
      }
    })
  })
  return {stop: () => child.stdin.end('stop\n'), done, startedAt: now()}
}
