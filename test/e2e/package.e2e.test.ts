// The published package, as a new user gets it: `npm pack` from a clean copy of the checkout (no
// dist/, no manifest: prepack must build them), `npm install -g` of the tarball into a prefix of its
// own, then the installed `highway` from a directory outside the checkout, against the real engine.
import {cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {ServiceRow} from '../../src/service/list.js'
import {APP_IMAGE, bridgeIp, curl, docker, dockerResult, ensureAppImage, makeEnv, removeServices, ROOT, run, serve} from './harness.js'

const work = mkdtempSync(join(tmpdir(), 'highway-package-'))
const clone = join(work, 'clone')
const prefix = join(work, 'prefix')
/** Where the user runs highway: nowhere near a checkout or node_modules. */
const elsewhere = join(work, 'elsewhere')
const env = makeEnv({PATH: `${join(prefix, 'bin')}:${dirname(process.execPath)}:${process.env.PATH}`})
/**
 * A base image no other test uses, with an ID of its own each run (a LABEL-only build gets a new
 * creation time), so `up` must build the infrastructure image from the files the package ships
 * instead of finding the checkout's build already there.
 */
const BASE = 'highway-test/package-base:1'
let tarball: string

/** `cmd` run in `dir` (coreutils' `env -C`: the harness's runProcess has no working directory of its own). */
const runIn = (dir: string, cmd: string, args: string[], options: {env?: NodeJS.ProcessEnv; input?: string} = {}) =>
  run('env', ['-C', dir, cmd, ...args], {timeout: 300_000, ...options})
const installed = (args: string[]) => runIn(elsewhere, 'highway', args, {env})

beforeAll(async () => {
  // A clean clone holds exactly the files git tracks (as they are in the work tree, so staged work
  // is packed as it will be committed); never dist/, the manifest or anything else ignored or new.
  const listed = await run('git', ['-C', ROOT, 'ls-files', '-z', '--cached'])
  expect(listed.code, listed.stderr).toBe(0)
  for (const file of listed.stdout.split('\0').filter(Boolean)) {
    if (!existsSync(join(ROOT, file))) continue
    mkdirSync(dirname(join(clone, file)), {recursive: true})
    cpSync(join(ROOT, file), join(clone, file))
  }
  // What `npm ci` would install there: the build tools (tsc, esbuild, oclif) and the dependencies.
  symlinkSync(join(ROOT, 'node_modules'), join(clone, 'node_modules'))
  mkdirSync(elsewhere)
  const base = await run('docker', ['build', '-q', '-t', BASE, '-'], {input: 'FROM debian:trixie-slim\nLABEL io.highway.test=package\n'})
  expect(base.code, base.stderr).toBe(0)
  await ensureAppImage()
  await removeServices()
})

afterAll(async () => {
  await removeServices()
  await installed(['down', '--purge'])
  // The infrastructure image built on this run's base, then the base: both this test's alone.
  const built = await docker('images', '-q', '--filter', `label=io.highway.base-image=${BASE}`)
  for (const id of new Set(built.split('\n').filter(Boolean))) await dockerResult('rmi', '-f', id)
  await dockerResult('rmi', BASE)
  rmSync(work, {force: true, recursive: true})
})

describe('the npm package', () => {
  it('is built by npm pack from a clean clone: compiled code, the manifest, the image context and the lockfile', async () => {
    expect(existsSync(join(clone, 'dist'))).toBe(false)
    const packed = await runIn(clone, 'npm', ['pack', '--pack-destination', work, '--json'])
    expect(packed.code, packed.stderr).toBe(0)
    const [{filename, files}] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as [{filename: string; files: {path: string}[]}]
    tarball = join(work, filename)
    const paths = files.map((file) => file.path)
    for (const needed of [
      'bin/run.cjs',
      'dist/commands/ls.js',
      'dist/service/main.js',
      // What bin/run.cjs loads for run, ls and status (scripts/bundle-prompt.js).
      'dist/service/main.bundle.cjs',
      'dist/cli/lean.bundle.js',
      'oclif.manifest.json',
      'dist/agent-image/Dockerfile',
      'dist/agent-image/lib/agent.cjs',
      'dist/agent-image/proto/rpc.proto',
      'npm-shrinkwrap.json',
    ]) {
      expect(paths).toContain(needed)
    }
    // Development-only files stay out: tests, sources, the tsx entry point.
    expect(paths.filter((path) => /^(src|test|bench)\/|^bin\/dev\.js$|\.map$/.test(path))).toEqual([])
    // postpack removes the lockfile copy again: the clone is left as it was.
    expect(existsSync(join(clone, 'npm-shrinkwrap.json'))).toBe(false)
  })

  it('installs on its own into a prefix, without running any dependency install script', async () => {
    // As .ci/run installs: no install script runs. allowScripts approves only esbuild, a
    // development dependency the installed package does not have.
    const install = await runIn(elsewhere, 'npm', [
      'install',
      '-g',
      '--prefix',
      prefix,
      '--ignore-scripts',
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      tarball,
    ])
    expect(install.code, install.stderr).toBe(0)
    const root = join(prefix, 'lib', 'node_modules', 'highway')
    expect(realpathSync(join(prefix, 'bin', 'highway'))).toBe(join(root, 'bin', 'run.cjs'))
    // The shrinkwrap pins what was tested: the lockfile's @oclif/core, not whatever is newest.
    const json = <T>(path: string) => JSON.parse(readFileSync(path, 'utf8')) as T
    const locked = json<{packages: Record<string, {version: string}>}>(join(ROOT, 'package-lock.json'))
    expect(json<{version: string}>(join(root, 'node_modules', '@oclif', 'core', 'package.json')).version).toBe(
      locked.packages['node_modules/@oclif/core'].version,
    )
    expect(readdirSync(root)).not.toContain('src')
    const version = await installed(['--version'])
    expect(version.stdout).toMatch(/^highway\/\d+\.\d+\.\d+ /)
  })

  it('runs up, run -d, ls and down --purge from outside the checkout, building its image from the files it ships', async () => {
    const up = await installed(['up', '--base-image', BASE])
    expect(up.code, up.stdout + up.stderr).toBe(0)
    const image = await docker('inspect', 'highway-proxy', '--format', '{{.Config.Image}}')
    expect(await docker('image', 'inspect', image, '--format', '{{index .Config.Labels "io.highway.base-image"}}')).toBe(BASE)
    // The commands, including oclif's, come from the installed package: every one is listed.
    const help = await installed(['--help'])
    for (const command of ['up', 'run', 'ls', 'status', 'down', 'join-file', 'dns-setup']) expect(help.stdout).toMatch(new RegExp(`^  ${command} `, 'm'))

    // The case: with no services, ls still ends its line, so the prompt starts on a line of its own.
    const empty = await installed(['ls'])
    expect(empty.code, empty.stderr).toBe(0)
    expect(empty.stdout).toMatch(/^no services registered; .*\n$/)

    const started = await installed(['run', '-d', '--name', 'packaged', '-p', '9090', APP_IMAGE, ...serve('hello-packaged')])
    expect(started.code, started.stderr).toBe(0)
    expect((await curl(`http://${await bridgeIp()}/`, {Host: 'packaged.local'})).body.trim()).toBe('hello-packaged')
    const listed = await installed(['ls', '--json'])
    expect(listed.code, listed.stderr).toBe(0)
    expect((JSON.parse(listed.stdout) as ServiceRow[]).map((row) => [row.name, row.state])).toEqual([['packaged', 'running']])
    const status = await installed(['status'])
    expect(status.code, status.stderr).toBe(0)
    expect(status.stdout).toContain(image)

    await removeServices()
    const down = await installed(['down', '--purge'])
    expect(down.code, down.stderr).toBe(0)
    // By the label only `up` gives (an image's own labels are copied onto any container of it).
    expect(await docker('ps', '-aq', '--filter', 'label=io.highway.component')).toBe('')
  })
})
