// Figure 7: `highway up` when already up, and from stopped containers (the five highway-*
// containers stopped with `docker stop`, as after a host reboot with the engine's restart policy off).
//
//   node bench/up.mjs [RUNS]       (default 7 already-up runs and 3 from-stopped runs)
//
// Each run's progress lines (listr2's plain renderer, one per finished step) are timestamped, which
// says where the time goes: start-up until the first step, the image check, each component.
import {spawn} from 'node:child_process'
import {BIN, ENV, bench, dockerOut, fmt, log, median, must, now, relaunchUnderLock, summary} from './lib/common.mjs'
import {CONTAINERS} from './lib/highway.mjs'

relaunchUnderLock(import.meta.url)
const RUNS = Number(process.argv[2] ?? process.env.RUNS ?? 7)
const STOPPED_RUNS = Number(process.env.STOPPED_RUNS ?? 3)
const COMPONENTS = Object.values(CONTAINERS)
const TOGETHER = ['etcd', 'proxy', 'dns', 'tcp']

/** Runs `highway up`, timestamping every output line; returns wall time and step marks. */
function timedUp() {
  return new Promise((resolve, reject) => {
    const started = now()
    const child = spawn(process.execPath, [BIN, 'up'], {env: ENV, stdio: ['ignore', 'pipe', 'pipe']})
    const lines = []
    let output = ''
    const onData = (chunk) => {
      const at = now() - started
      output += chunk
      for (const line of String(chunk).split('\n')) if (line.trim()) lines.push({at, line: line.trim()})
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.on('error', reject)
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`highway up exited ${code}: ${output}`))
      const ms = now() - started
      const at = (pattern) => lines.find((l) => pattern.test(l.line))?.at ?? NaN
      const firstLine = lines[0]?.at ?? NaN
      const image = at(/✔ image|image highway\//)
      // etcd, the proxy, dnsmasq and the forwarder are started in turn and waited for together: each is timed from the image check
      // to its answer; the agent (which starts once etcd and the proxy answer) from the last of them, what it adds after them.
      const done = {}
      for (const component of TOGETHER) done[component] = at(new RegExp(`✔ ${component}:`))
      const lastTogether = Math.max(...TOGETHER.map((component) => done[component]))
      const allDone = at(/✔ components/)
      resolve({
        ms,
        steps: {
          'start-up (oclif, docker ping, bridge, host id)': firstLine,
          'image check (hash the build context, inspect)': image - firstLine,
          ...Object.fromEntries(TOGETHER.map((component) => [`${component} answers (from the image check)`, done[component] - image])),
          'all four answer (from the image check)': lastTogether - image,
          'agent (after the last of them)': at(/✔ agent:/) - lastTogether,
          'finish (save settings, exit)': ms - allDone,
        },
        lines,
      })
    })
  })
}

const stepMedians = (runs) => Object.fromEntries(Object.keys(runs[0].steps).map((k) => [k, +median(runs.map((r) => r.steps[k])).toFixed(1)]))

await bench('up', async () => {
  const already = []
  for (let i = 0; i < RUNS; i++) already.push(await timedUp())
  const stopped = []
  const stopMs = []
  for (let i = 0; i < STOPPED_RUNS; i++) {
    const t = now()
    await must('docker', ['stop', ...COMPONENTS], {timeout: 60_000})
    stopMs.push(now() - t)
    const states = await dockerOut('inspect', '--format', '{{.State.Running}}', ...COMPONENTS)
    if (states.includes('true')) throw new Error(`highway containers still running after docker stop: ${states}`)
    stopped.push(await timedUp())
  }
  const result = {
    runs: RUNS,
    stoppedRuns: STOPPED_RUNS,
    alreadyUp: {
      ms: summary(
        already.map((r) => r.ms),
        1,
      ),
      steps: stepMedians(already),
    },
    fromStopped: {
      ms: summary(
        stopped.map((r) => r.ms),
        1,
      ),
      steps: stepMedians(stopped),
      dockerStopMs: summary(stopMs, 0),
    },
    lastFromStoppedOutput: stopped.at(-1).lines.map((l) => `${fmt(l.at, 0).padStart(6)} ms  ${l.line}`),
  }
  for (const [name, part] of [
    ['already up', result.alreadyUp],
    ['from stopped', result.fromStopped],
  ]) {
    log(`highway up, ${name}: p50 ${fmt(part.ms.p50)} ms (min ${fmt(part.ms.min)}, max ${fmt(part.ms.max)})`)
    for (const [step, ms] of Object.entries(part.steps)) log(`    ${step.padEnd(48)} ${fmt(ms)} ms`)
  }
  return result
})
