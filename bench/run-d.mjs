// Figure 1: `highway run -d` wall time against plain `docker run -d` of the same image and arguments,
// interleaved, plus a profile of where highway's time goes: bench/lib/run-phases.cjs runs the real
// code path (dist/service/main.bundle.cjs, what bin/run.cjs loads) with node's net.connect and child_process.spawn timestamped.
//
//   node bench/run-d.mjs [RUNS]        (default 25 of each; the target needs at least 10. With 15, docker's
//                                       median moved between 187 and 206 ms in three runs of one day: 0.1x)
import {join} from 'node:path'
import {
  APP_IMAGE,
  BENCH_LABEL,
  BIN,
  ENV,
  ROOT,
  bench,
  busyboxServe,
  docker,
  ensureAppImage,
  fmt,
  highway,
  httpGet,
  log,
  median,
  must,
  now,
  relaunchUnderLock,
  run,
  sleep,
  summary,
} from './lib/common.mjs'
import {dockerArgvOf} from './lib/highway.mjs'
import {TARGETS} from './lib/targets.mjs'

relaunchUnderLock(import.meta.url)
const RUNS = Number(process.argv[2] ?? process.env.RUNS ?? 25)
const PROFILE_RUNS = Math.max(5, Math.min(RUNS, 10))

/** Waits until the proxy no longer knows `name` (its container was removed), so runs do not overlap. */
async function settle(cfg, name) {
  const deadline = now() + 10_000
  while (now() < deadline) {
    const answer = await httpGet(cfg.bridgeIp, 80, `${name}.${cfg.domain}`).catch(() => null)
    if (answer?.kind === 'not-found') break
    await sleep(20)
  }
  await sleep(150)
}

await bench('run-d', async ({settings: cfg}) => {
  await ensureAppImage()
  const cmd = busyboxServe('bench')
  const highwayArgs = (name) => ['run', '-d', '--label', BENCH_LABEL, '--name', name, '-p', '9090', APP_IMAGE, ...cmd]
  // Plain docker gets exactly what highway hands the docker CLI (built by dist/'s own code), minus
  // highway's two labels.
  const plainArgs = (name) => dockerArgvOf(highwayArgs(name).slice(1), {bridgeIp: cfg.bridgeIp, labels: false})
  // The exact argv highway hands the docker CLI, labels included: the agent reacts to this one
  // (create and start events, each a route change), so it shows what that costs docker itself.
  const labelledArgs = (name) => dockerArgvOf(highwayArgs(name).slice(1), {bridgeIp: cfg.bridgeIp})

  // Warm-up (image and page caches, docker's first create), not counted.
  await must('docker', plainArgs('bench-rd-warm'))
  await docker(['rm', '-f', 'bench-rd-warm'])
  const warm = await highway(highwayArgs('bench-rd-warmh'))
  if (warm.code !== 0) throw new Error(`highway run failed: ${warm.stderr}`)
  await docker(['rm', '-f', 'bench-rd-warmh'])
  await settle(cfg, 'bench-rd-warmh')

  const times = {docker: [], highway: [], labelled: [], node: []}
  for (let i = 0; i < RUNS; i++) {
    // Alternating order: neither side always runs first.
    const order = i % 2 === 0 ? ['docker', 'highway', 'labelled'] : ['labelled', 'highway', 'docker']
    for (const kind of order) {
      const name = `bench-rd-${kind[0]}${i}`
      const result =
        kind === 'docker'
          ? await run('docker', plainArgs(name))
          : kind === 'labelled'
            ? await run('docker', labelledArgs(name))
            : await highway(highwayArgs(name))
      if (result.code !== 0) throw new Error(`${kind} run ${name} failed: ${result.stderr}`)
      times[kind].push(result.ms)
      await docker(['rm', '-f', name])
      if (kind !== 'docker') await settle(cfg, name)
      else await sleep(150)
    }
    times.node.push((await run(process.execPath, ['-e', '0'])).ms)
  }
  const medians = Object.fromEntries(Object.entries(times).map(([kind, values]) => [kind, median(values)]))
  const ratio = medians.highway / medians.docker
  log(`docker run -d   ${JSON.stringify(summary(times.docker, 1))}`)
  log(`highway run -d  ${JSON.stringify(summary(times.highway, 1))}`)
  log(`docker run -d with highway's labels (what highway runs; the agent reacts) ${JSON.stringify(summary(times.labelled, 1))}`)
  log(`node -e 0       ${JSON.stringify(summary(times.node, 1))}`)
  log(`ratio of medians highway/docker: ${fmt(ratio, 2)} (target ${TARGETS.runD.text})`)

  // Profile: the same path, instrumented (a copy in bench/lib, same dist/ modules).
  const phases = []
  for (let i = 0; i < PROFILE_RUNS; i++) {
    const name = `bench-rd-p${i}`
    const spawned = now()
    const result = await run(process.execPath, [join(ROOT, 'bench', 'lib', 'run-phases.cjs'), ...highwayArgs(name).slice(1)], {env: {...ENV}})
    const closed = now()
    const line = result.stdout.split('\n').find((l) => l.startsWith('PHASES '))
    if (result.code !== 0 || !line) throw new Error(`run-phases failed: ${result.stderr}`)
    const {marks, requests, spawns} = JSON.parse(line.slice(7))
    const dockerRun = spawns.find((s) => s.command.startsWith('docker run'))
    if (!dockerRun) throw new Error('run-phases: no docker run spawned')
    const before = requests.filter((r) => r.start < dockerRun.start)
    const after = requests.filter((r) => r.start >= dockerRun.end)
    const first = before[0] ?? {start: dockerRun.start}
    phases.push({
      'spawn (fork+exec of node)': marks.origin - spawned,
      'node start-up': marks.script - marks.origin,
      'import highway modules': marks.importEnd - marks.importStart,
      'parse args + load settings': first.start - marks.importEnd,
      'proxy checks before docker': dockerRun.start - first.start,
      'docker CLI (docker run -d)': dockerRun.end - dockerRun.start,
      'route wait (polling the proxy)': marks.mainReturned - dockerRun.end,
      'return + exit': closed - marks.mainReturned,
      total: closed - spawned,
      checksBeforeDocker: before.length,
      polls: after.length,
    })
    await docker(['rm', '-f', name])
    await settle(cfg, name)
  }
  const profile = Object.fromEntries(Object.keys(phases[0]).map((key) => [key, +median(phases.map((p) => p[key])).toFixed(1)]))
  log('profile (median ms of each phase):')
  for (const [key, value] of Object.entries(profile)) log(`  ${key.padEnd(32)} ${fmt(value)}`)
  log(`  (checks before docker: ${profile.checksBeforeDocker} proxy request(s); route-wait polls: ${profile.polls})`)

  // node + importing the lean `run` path alone (no request, no docker).
  const importOnly = []
  for (let i = 0; i < 10; i++) {
    importOnly.push((await run(process.execPath, ['-e', `require(${JSON.stringify(join(ROOT, 'dist', 'service', 'main.bundle.cjs'))})`])).ms)
  }
  log(`node + require dist/service/main.bundle.cjs: median ${fmt(median(importOnly))} ms (node -e 0: ${fmt(medians.node)} ms)`)

  return {
    runs: RUNS,
    image: APP_IMAGE,
    // A name highway accepts (the argv is built by highway's own parser, which checks it), shown as NAME.
    command: `highway ${highwayArgs('svc-name').join(' ')}`.replaceAll('svc-name', 'NAME'),
    baseline: `docker ${plainArgs('svc-name').join(' ')}`.replaceAll('svc-name', 'NAME'),
    docker: summary(times.docker, 1),
    highway: summary(times.highway, 1),
    node: summary(times.node, 1),
    labelled: summary(times.labelled, 1),
    labelledArgs: `docker ${labelledArgs('svc-name').join(' ')}`.replaceAll('svc-name', 'NAME'),
    ratio: +ratio.toFixed(2),
    target: TARGETS.runD.maxRatio,
    met: ratio <= TARGETS.runD.maxRatio,
    profileRuns: PROFILE_RUNS,
    profile,
    importMainMs: +median(importOnly).toFixed(1),
    bin: BIN,
  }
})
