// Images left behind: `up` removes highway's own older infrastructure images that no container uses,
// `down --purge` the current one too, and neither touches a user's image. Real engine, real builds.
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {docker, dockerResult, highway, makeEnv, PURGE_KEEPING_IMAGES, run} from './harness.js'

const env = makeEnv()
const STALE = 'highway/infra:e2e-footprint-stale'
const IN_USE = 'highway/infra:e2e-footprint-in-use'
const USERS = 'highway-test/users-infra:e2e-footprint'
const USERS_CONTAINER = 'e2e-footprint-user'
let current: string
// down --purge removes the image every other file runs: a copy loaded back afterwards spares the next file a build.
const saved = join(mkdtempSync(join(tmpdir(), 'highway-e2e-footprint-')), 'infra.tar')

/** Builds `tag` FROM `base` with one label of its own: it inherits io.highway.managed=true from highway's image. */
async function buildFrom(base: string, tag: string): Promise<void> {
  const built = await run('docker', ['build', '--quiet', '--tag', tag, '-'], {input: `FROM ${base}\nLABEL io.highway.e2e-footprint=${tag}\n`})
  expect(built.code, built.stderr).toBe(0)
  expect(await docker('image', 'inspect', '--format', '{{index .Config.Labels "io.highway.managed"}}', tag)).toBe('true')
}

const exists = async (reference: string) => (await dockerResult('image', 'inspect', reference)).code === 0

beforeAll(async () => {
  const up = await highway(['up'], env)
  expect(up.code, up.stdout + up.stderr).toBe(0)
  current = await docker('inspect', 'highway-proxy', '--format', '{{.Config.Image}}')
})

afterAll(async () => {
  await highway(PURGE_KEEPING_IMAGES, env)
  await dockerResult('rm', '-f', USERS_CONTAINER)
  for (const tag of [STALE, IN_USE, USERS]) await dockerResult('rmi', tag)
  if ((await dockerResult('image', 'inspect', current)).code !== 0) await run('docker', ['load', '--quiet', '--input', saved])
  rmSync(join(saved, '..'), {force: true, recursive: true})
})

describe('images left behind', () => {
  it('up removes highway’s unused older images, and keeps the current one, one in use and a user’s', async () => {
    await buildFrom(current, STALE)
    await buildFrom(current, IN_USE)
    await buildFrom(current, USERS)
    // A stopped container of anyone's still uses its image. It would inherit the image's
    // io.highway.managed label, and `down` would take it for highway's: the user's says otherwise.
    await docker('create', '--name', USERS_CONTAINER, '--label', 'io.highway.managed=false', IN_USE, 'true')

    const up = await highway(['up'], env)
    expect(up.code, up.stdout + up.stderr).toBe(0)
    expect(up.stdout).toMatch(new RegExp(`^removed older images? .*${STALE}`, 'm'))
    expect(up.stdout).not.toContain(IN_USE)
    expect(await exists(STALE)).toBe(false)
    expect(await exists(current)).toBe(true)
    expect(await exists(IN_USE)).toBe(true)
    expect(await exists(USERS)).toBe(true)

    const again = await highway(['up'], env)
    expect(again.code, again.stdout + again.stderr).toBe(0)
    expect(again.stdout).not.toMatch(/removed older image/)
  })

  it('down --purge removes the current image too, and still no user’s', async () => {
    const copy = await run('docker', ['save', '--output', saved, current])
    expect(copy.code, copy.stderr).toBe(0)
    const down = await highway(['down', '--purge'], env)
    expect(down.code, down.stdout + down.stderr).toBe(0)
    expect(down.stdout).toMatch(new RegExp(`^removed images? .*${current.replace(/[.]/g, '\\.')}`, 'm'))
    expect(await exists(current)).toBe(false)
    expect(await exists(IN_USE)).toBe(true)
    expect(await exists(USERS)).toBe(true)
  })
})
