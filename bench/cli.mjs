// Figure 6: the CLI itself. `highway --version`, `highway ls` and `highway status` (their lean paths,
// and the same through oclif) wall time against `docker ps` (and `docker --version`, `node -e 0` for
// scale), interleaved, RUNS of each.
//
//   node bench/cli.mjs [RUNS]      (default 15)
//
// Plus where `highway ls` and `status` spend their time: node start-up, loading oclif, loading the
// modules the full commands use (etcd3 with gRPC, dockerode), each timed alone in a fresh node.
import {join} from 'node:path'
import {
  APP_IMAGE,
  BENCH_LABEL,
  BIN,
  ROOT,
  bench,
  busyboxServe,
  ensureAppImage,
  fmt,
  highway,
  log,
  median,
  relaunchUnderLock,
  run,
  summary,
} from './lib/common.mjs'

relaunchUnderLock(import.meta.url)
const oclif = (command) =>
  `import {execute} from ${JSON.stringify(join(ROOT, 'node_modules', '@oclif', 'core', 'lib', 'index.js'))}; await execute({args: [${JSON.stringify(command)}], dir: ${JSON.stringify(`file://${BIN}`)}})`
const RUNS = Number(process.argv[2] ?? process.env.RUNS ?? 15)

await bench('cli', async () => {
  await ensureAppImage()
  // A few services so `ls` has rows to join (etcd records and docker containers).
  for (let i = 0; i < 3; i++) {
    const result = await highway(['run', '-d', '--name', `bench-cli-${i}`, '-p', '9090', '--label', BENCH_LABEL, APP_IMAGE, ...busyboxServe(`cli${i}`)])
    if (result.code !== 0) throw new Error(`highway run: ${result.stderr}`)
  }
  const commands = {
    'highway --version': [process.execPath, [BIN, '--version']],
    'highway ls': [process.execPath, [BIN, 'ls']],
    'highway status': [process.execPath, [BIN, 'status']],
    // The same commands through oclif, as before the lean path (src/cli/lean.ts): what it saves.
    'highway ls (oclif)': [process.execPath, ['--input-type=module', '-e', oclif('ls')]],
    'highway status (oclif)': [process.execPath, ['--input-type=module', '-e', oclif('status')]],
    'docker ps': ['docker', ['ps']],
    'docker --version': ['docker', ['--version']],
    'node -e 0': [process.execPath, ['-e', '0']],
  }
  for (const [command, args] of Object.values(commands)) await run(command, args) // warm the page cache
  const times = Object.fromEntries(Object.keys(commands).map((k) => [k, []]))
  for (let i = 0; i < RUNS; i++) {
    const keys = i % 2 === 0 ? Object.keys(commands) : Object.keys(commands).reverse()
    for (const key of keys) {
      const [command, args] = commands[key]
      const result = await run(command, args)
      if (result.code !== 0) throw new Error(`${key} exited ${result.code}: ${result.stderr}`)
      times[key].push(result.ms)
    }
  }
  const results = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, summary(v, 1)]))
  for (const [k, v] of Object.entries(results)) log(`  ${k.padEnd(26)} p50 ${fmt(v.p50)} ms  (min ${fmt(v.min)}, max ${fmt(v.max)})`)
  const ratios = {
    'highway --version / docker ps': +(results['highway --version'].p50 / results['docker ps'].p50).toFixed(2),
    'highway ls / docker ps': +(results['highway ls'].p50 / results['docker ps'].p50).toFixed(2),
    'highway ls / node -e 0': +(results['highway ls'].p50 / results['node -e 0'].p50).toFixed(2),
    'highway status / node -e 0': +(results['highway status'].p50 / results['node -e 0'].p50).toFixed(2),
    'highway ls (oclif) / node -e 0': +(results['highway ls (oclif)'].p50 / results['node -e 0'].p50).toFixed(2),
    'highway status (oclif) / node -e 0': +(results['highway status (oclif)'].p50 / results['node -e 0'].p50).toFixed(2),
  }
  for (const [k, v] of Object.entries(ratios)) log(`  ${k}: ${v}`)

  // Where the time goes: each import alone in a fresh node (median of 7), minus bare node start-up.
  const imports = {
    '@oclif/core': "await import('@oclif/core')",
    'etcd3 (gRPC)': "await import('etcd3')",
    dockerode: "await import('dockerode')",
    'dist/commands/ls.js (all of ls)': `await import(${JSON.stringify(join(ROOT, 'dist', 'commands', 'ls.js'))})`,
    'dist/commands/status.js (all of status)': `await import(${JSON.stringify(join(ROOT, 'dist', 'commands', 'status.js'))})`,
    'dist/cli/lean.bundle.js (lean ls and status, what bin/run.cjs loads)': `await import(${JSON.stringify(join(ROOT, 'dist', 'cli', 'lean.bundle.js'))})`,
  }
  const importMs = {}
  for (const [name, code] of Object.entries(imports)) {
    const samples = []
    for (let i = 0; i < 7; i++) samples.push((await run(process.execPath, ['--input-type=module', '-e', code], {env: {...process.env}})).ms)
    importMs[name] = +(median(samples) - results['node -e 0'].p50).toFixed(1)
  }
  log(
    '  import cost over bare node (ms): ' +
      Object.entries(importMs)
        .map(([k, v]) => `${k} ${fmt(v)}`)
        .join(', '),
  )
  return {runs: RUNS, results, ratios, importMs}
})
