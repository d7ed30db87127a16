// Supporting measurements behind the recommendations in docs/benchmarks.md (not figures of their own):
//
//   node bench/evidence.mjs
//
// 1. HAProxy reloads caused by each step of a container's life (docker create, start, rm -f, and
//    highway run -d / docker rm -f), counted on the master CLI.
// 2. A master-CLI reload with a broken config, in a private HAProxy container: what the master
//    answers and whether the old worker keeps serving (can `haproxy -c` leave the critical path?).
// 3. etcd's restart-to-healthy time, single member, default flags vs a short election timeout, in
//    private etcd containers (what `highway up` from stopped waits for).
// 4. How long the keep-alive Node backend takes to listen after `docker run -d` returns, against how
//    long `highway run -d` of the same container takes to return (route live).
import {
  APP_IMAGE,
  BENCH_LABEL,
  NODE_BACKEND,
  bench,
  busyboxServe,
  containerIp,
  docker,
  highway,
  httpGet,
  infraImage,
  log,
  median,
  must,
  now,
  relaunchUnderLock,
  reloadCount,
  sleep,
} from './lib/common.mjs'
import {dockerArgvOf, etcdCommand, haproxyPrelude} from './lib/highway.mjs'

relaunchUnderLock(import.meta.url)

async function settledReloads(before) {
  await sleep(1500)
  return (await reloadCount()) - before
}

await bench('evidence', async ({settings: cfg}) => {
  const image = await infraImage()

  // 1 ---------------------------------------------------------------------------------------------
  const reloads = {}
  let mark = await reloadCount()
  // What `highway run` would create (its labels included), made with `docker create` instead.
  const labelled = dockerArgvOf(['--label', BENCH_LABEL, '--name', 'bench-ev', '-p', '9090', APP_IMAGE, ...busyboxServe('ev')], {bridgeIp: cfg.bridgeIp})
  await must('docker', ['create', ...labelled.slice(1)])
  reloads['docker create (labelled)'] = await settledReloads(mark)
  mark = await reloadCount()
  await must('docker', ['start', 'bench-ev'])
  reloads['docker start'] = await settledReloads(mark)
  mark = await reloadCount()
  await must('docker', ['rm', '-f', 'bench-ev'])
  reloads['docker rm -f'] = await settledReloads(mark)
  mark = await reloadCount()
  const run = await highway(['run', '-d', '--name', 'bench-ev2', '-p', '9090', '--label', BENCH_LABEL, APP_IMAGE, ...busyboxServe('ev2')])
  if (run.code !== 0) throw new Error(`highway run: ${run.stderr}`)
  reloads['highway run -d'] = await settledReloads(mark)
  mark = await reloadCount()
  await must('docker', ['rm', '-f', 'bench-ev2'])
  reloads['docker rm -f (of that)'] = await settledReloads(mark)
  log(`reloads per step: ${JSON.stringify(reloads)}`)

  // 2 ---------------------------------------------------------------------------------------------
  const good = `${haproxyPrelude()}\nfrontend f\n    bind :80\n    http-request return status 200 content-type text/plain string ok\n`
  await must('docker', [
    'run',
    '-d',
    '--label',
    BENCH_LABEL,
    '--name',
    'bench-ev-hap',
    '-e',
    `CFG=${good}`,
    image,
    'sh',
    '-c',
    'printf "%s" "$CFG" > /tmp/h.cfg && exec haproxy -W -db -S /tmp/m.sock -f /tmp/h.cfg',
  ])
  await sleep(800)
  const hapIp = await containerIp('bench-ev-hap')
  const cli = (command) =>
    must('docker', [
      'exec',
      'bench-ev-hap',
      'node',
      '-e',
      `const s=require('net').createConnection('/tmp/m.sock');let o='';s.on('connect',()=>s.end(${JSON.stringify(`${command}\n`)}));s.on('data',d=>o+=d);s.on('close',()=>process.stdout.write(o))`,
    ])
  await must('docker', ['exec', 'bench-ev-hap', 'sh', '-c', 'printf "    bogus-directive here\\n" >> /tmp/h.cfg'])
  let t = now()
  const badAnswer = (await cli('reload')).stdout
  const badReloadMs = now() - t
  await sleep(300)
  const afterBad = await httpGet(hapIp, 80, 'x').catch((error) => ({error: error.message}))
  await must('docker', ['exec', 'bench-ev-hap', 'sh', '-c', 'printf "%s" "$CFG" > /tmp/h.cfg'])
  t = now()
  const goodAnswer = (await cli('reload')).stdout
  const goodReloadMs = now() - t
  const brokenConfigReload = {
    answer: badAnswer.split('\n')[0],
    alert:
      badAnswer
        .split('\n')
        .find((l) => /ALERT.*unknown keyword/.test(l))
        ?.trim() ?? null,
    msWithDockerExec: +badReloadMs.toFixed(0),
    oldWorkerStillAnswers: afterBad.status === 200 && afterBad.body === 'ok',
    nextGoodReload: goodAnswer.split('\n')[0],
    nextGoodReloadMsWithDockerExec: +goodReloadMs.toFixed(0),
  }
  log(`broken-config reload: ${JSON.stringify(brokenConfigReload)}`)

  // 3 ---------------------------------------------------------------------------------------------
  const etcdRestart = {}
  // highway's own etcd command line, and the same without its raft timer flags (etcd's defaults).
  const highwayEtcd = etcdCommand('127.0.0.1')
  const raftTimers = highwayEtcd.filter((arg) => /^--(heartbeat-interval|election-timeout)=/.test(arg))
  if (raftTimers.length === 0) throw new Error(`highway's etcd command sets no raft timers any more: ${highwayEtcd.join(' ')}`)
  for (const [label, command] of [
    ['default flags', highwayEtcd.filter((arg) => !raftTimers.includes(arg))],
    [`highway's (${raftTimers.join(' ')})`, highwayEtcd],
  ]) {
    const name = `bench-ev-etcd-${command === highwayEtcd ? 'highway' : 'default'}`
    await must('docker', ['create', '--label', BENCH_LABEL, '--name', name, image, ...command])
    const times = []
    for (let i = 0; i < 4; i++) {
      const started = now()
      await must('docker', ['start', name])
      const ip = await containerIp(name)
      for (;;) {
        const healthy = await fetch(`http://${ip}:2379/health`, {signal: AbortSignal.timeout(500)})
          .then((r) => r.json())
          .then(
            (b) => b.health === 'true',
            () => false,
          )
        if (healthy) break
        if (now() - started > 20_000) throw new Error(`${name} not healthy within 20 s`)
        await sleep(10)
      }
      times.push(now() - started)
      await must('docker', ['stop', name])
    }
    etcdRestart[label] = {firstStartMs: +times[0].toFixed(0), restartMedianMs: +median(times.slice(1)).toFixed(0)}
  }
  log(`etcd docker start -> healthy: ${JSON.stringify(etcdRestart)}`)

  // 4 ---------------------------------------------------------------------------------------------
  const listen = []
  for (let i = 0; i < 3; i++) {
    await must('docker', ['run', '-d', '--label', BENCH_LABEL, '--name', `bench-ev-node-${i}`, image, ...NODE_BACKEND])
    const returned = now()
    const ip = await containerIp(`bench-ev-node-${i}`)
    for (;;) {
      if ((await httpGet(ip, 9090, 'x').catch(() => null))?.status === 200) break
      await sleep(2)
    }
    listen.push(now() - returned)
    await docker(['rm', '-f', `bench-ev-node-${i}`])
  }
  const highwayNode = []
  for (let i = 0; i < 5; i++) {
    const result = await highway(['run', '-d', '--name', `bench-ev-hw-${i}`, '-p', '9090', '--label', BENCH_LABEL, image, ...NODE_BACKEND])
    if (result.code !== 0) throw new Error(`highway run: ${result.stderr}`)
    highwayNode.push(result.ms)
    await docker(['rm', '-f', `bench-ev-hw-${i}`])
    await sleep(500)
  }
  const nodeBackend = {
    listensAfterDockerRunMs: +median(listen).toFixed(0),
    highwayRunMs: +median(highwayNode).toFixed(0),
    highwayRunEachMs: highwayNode.map((v) => +v.toFixed(0)),
  }
  log(
    `node backend: listening ${nodeBackend.listensAfterDockerRunMs} ms after docker run -d returned; highway run -d of it took ${nodeBackend.highwayRunEachMs.join(', ')} ms`,
  )

  return {reloads, brokenConfigReload, etcdRestart, nodeBackend}
})
