// `highway ls` and `highway status` have two paths: bin/run.cjs's lean one (src/cli/lean.ts: the
// engine's API on its socket, etcd's gRPC on node's HTTP/2) and the oclif commands (dockerode,
// etcd3). Both must print the same bytes and exit the same way. Here both run against a real
// `highway up`, one right after the other: with services, with etcd stopped, and with no engine.
import {mkdtempSync, readFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {APP_IMAGE, BIN, ROOT, clearOfReconcile, docker, downPurged, highway, makeEnv, run, serve, until, type Result} from './harness.js'

const env = makeEnv()
const PRELOAD = join(import.meta.dirname, 'loaded-packages.mjs')
const scratch = mkdtempSync(join(tmpdir(), 'highway-lean-'))
/** What only the full commands load: if the lean path loaded one of them, it would save nothing. */
const HEAVY = ['@oclif/core', 'etcd3', '@grpc/grpc-js', 'dockerode']

type Run = Result & {loaded: string[]}

async function withLoaded(args: string[], extra: NodeJS.ProcessEnv, tag: string): Promise<Run> {
  const file = join(scratch, `${tag}.json`)
  const result = await run(process.execPath, ['--import', PRELOAD, ...args], {env: {...env, ...extra, HIGHWAY_TEST_LOADED: file}})
  return {...result, loaded: JSON.parse(readFileSync(file, 'utf8')) as string[]}
}

/** bin/run.cjs as a user runs it (it takes the lean path for these command lines). */
const lean = (args: string[], extra: NodeJS.ProcessEnv = {}) => withLoaded([BIN, ...args], extra, 'lean')

/** The same command line through oclif's own entry point, as bin/run.cjs runs every other command. */
function oclif(args: string[], extra: NodeJS.ProcessEnv = {}): Promise<Run> {
  const core = join(ROOT, 'node_modules', '@oclif', 'core', 'lib', 'index.js')
  const code = `import {execute} from ${JSON.stringify(core)}; await execute({args: ${JSON.stringify(args)}, dir: ${JSON.stringify(`file://${BIN}`)}})`
  return withLoaded(['--input-type=module', '-e', code], extra, 'oclif')
}

/**
 * What may differ between two runs a moment apart: the seconds left of the agent's lease and the
 * age of its report. Nothing else is touched (the agent's last reconcile is kept out of the way by
 * clearOfReconcile).
 */
const timeless = (text: string) =>
  text
    .replace(/\b\d+ s left of/g, 'N s left of')
    .replace(/"ttl": -?\d+/g, '"ttl": N')
    .replace(/"reportAgeMs": -?\d+/g, '"reportAgeMs": N')

/** Runs both paths and expects the same stdout, stderr and exit code; returns the lean run. */
async function same(args: string[], extra: NodeJS.ProcessEnv = {}, options: {agentReports?: boolean} = {}): Promise<Run> {
  if (options.agentReports) await clearOfReconcile(env, 0, 10_000)
  const viaLean = await lean(args, extra)
  const viaOclif = await oclif(args, extra)
  const label = args.join(' ')
  expect(timeless(viaLean.stdout), `stdout of ${label}`).toBe(timeless(viaOclif.stdout))
  expect(viaLean.stderr, `stderr of ${label}`).toBe(viaOclif.stderr)
  expect(viaLean.code, `exit code of ${label}`).toBe(viaOclif.code)
  // The control: the oclif run did load what the lean one must not, so this check can fail.
  expect(viaOclif.loaded, label).toContain('@oclif/core')
  expect(
    viaLean.loaded.filter((name) => HEAVY.includes(name)),
    `packages the lean ${label} loaded`,
  ).toEqual([])
  return viaLean
}

interface StatusJson {
  components: Array<{component: string; ok: boolean; state: string}>
  cluster: {members: Array<{leader: boolean; ok: boolean}>; lease: {ttl: number; grantedTtl: number} | null} | null
}

describe('lean ls and status', () => {
  beforeAll(async () => {
    await downPurged(env)
    const up = await highway(['up'], env)
    if (up.code !== 0) throw new Error(`highway up failed (exit ${up.code}): ${up.stderr}`)
    for (const name of ['lean-a', 'lean-b']) {
      const started = await highway(['run', '-d', '--name', name, '-p', '9090', APP_IMAGE, ...serve(name)], env)
      if (started.code !== 0) throw new Error(`highway run ${name} failed: ${started.stderr}`)
    }
    // A stopped one too: its row says so.
    await docker('stop', '-t', '0', 'lean-b')
  })

  afterAll(async () => {
    await downPurged(env)
  })

  it('print the same for status and ls with services, in text and --json, the lean path without oclif, etcd3, gRPC or dockerode', async () => {
    // The agent has recorded the stop (so both paths see a registry that no longer changes).
    await until('lean-b’s record stopped', async () => ((await highway(['ls'], env)).stdout.match(/^lean-b .* stopped\n/m) ? true : undefined))
    const text = await same(['status'], {}, {agentReports: true})
    expect(text.stdout).toMatch(/etcd cluster: 1 member, leader \S+; this host \(\w+\): TTL 10 s, etcd lease \w+: \d+ s left of \d+ s\n/)
    const json = JSON.parse((await same(['status', '--json'], {}, {agentReports: true})).stdout) as StatusJson
    expect(json.components.every((component) => component.ok)).toBe(true)
    expect(json.cluster?.members).toMatchObject([{leader: true, ok: true}])
    expect(json.cluster?.lease?.grantedTtl).toBeGreaterThan(0)
    const ls = await same(['ls'])
    expect(ls.stdout).toMatch(/^lean-a .* running\n/m)
    expect(ls.stdout).toMatch(/^lean-b .* stopped\n/m)
    expect(JSON.parse((await same(['ls', '--json'])).stdout)).toHaveLength(2)
  })

  it('print the same with etcd stopped: status shows it down, ls fails with the same one line', async () => {
    await docker('stop', 'highway-etcd')
    try {
      const text = await same(['status'])
      expect(text.stdout).toMatch(/^etcd +exited +not running /m)
      const json = JSON.parse((await same(['status', '--json'])).stdout) as StatusJson
      expect(json.cluster).toBeNull()
      const ls = await same(['ls'])
      expect(ls.code).toBe(1)
      expect(ls.stderr).toMatch(/^highway: cannot reach etcd at https:\/\/127\.0\.0\.1:2379 /)
      const lsJson = await same(['ls', '--json'])
      expect(JSON.parse(lsJson.stdout)).toMatchObject({error: {exitCode: 1}})
      // Neither answers: the engine's failure is the one said, though etcd's refusal may come first.
      const neither = await same(['ls'], {DOCKER_HOST: `unix://${join(scratch, 'no-engine.sock')}`})
      expect(neither.stderr).toMatch(/^highway: cannot reach the Docker engine at unix:\/\/.*no-engine\.sock \(ENOENT\)\n/)
    } finally {
      await docker('start', 'highway-etcd')
    }
  })

  it('fail the same without an engine', async () => {
    const missing = {DOCKER_HOST: `unix://${join(scratch, 'no-engine.sock')}`}
    // `ls` asks etcd (which answers here) while it asks the engine.
    for (const args of [['status'], ['status', '--json'], ['ls'], ['ls', '--json']]) {
      const result = await same(args, missing)
      expect(result.code).toBe(1)
      expect(result.stderr).toMatch(/^highway: cannot reach the Docker engine at unix:\/\/.*no-engine\.sock \(ENOENT\)\n/)
    }
  })
})
