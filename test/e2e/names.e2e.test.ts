// Names are owned, end to end on the real engine, agent and proxy: a container that merely carries a
// held name's label gets none of its traffic, `--replica-of` and the replica label join it on
// purpose, and labels baked into an image neither register a container nor make it highway's.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {ServiceRow} from '../../src/service/list.js'
import {
  APP_IMAGE,
  bridgeIp,
  curl,
  docker,
  dockerResult,
  ensureAppImage,
  highway,
  makeEnv,
  PURGE_KEEPING_IMAGES,
  removeServices,
  run,
  serve,
  until,
} from './harness.js'

const env = makeEnv()
let ip: string

/** Images built FROM the test image with a LABEL line (no registry needed). */
const BAKED_SERVICE = 'highway-test/baked-service:1'
const IMPOSTOR = 'highway-test/impostor:1'
const INFRA_NAMES = ['highway-agent', 'highway-dns', 'highway-etcd', 'highway-proxy']
const REQUESTS = 24

async function buildWithLabels(tag: string, labels: string): Promise<void> {
  // The classic builder: the engine here has no buildx, and it resolves FROM against local images.
  const built = await run('docker', ['build', '-q', '-t', tag, '-'], {
    env: {...process.env, DOCKER_BUILDKIT: '0'},
    input: `FROM ${APP_IMAGE}\nLABEL ${labels}\n`,
  })
  expect(built.code, built.stderr).toBe(0)
}

async function ls(): Promise<ServiceRow[]> {
  const result = await highway(['ls', '--json'], env)
  expect(result.code, result.stderr).toBe(0)
  return JSON.parse(result.stdout) as ServiceRow[]
}

async function row(container: string): Promise<ServiceRow | undefined> {
  return (await ls()).find((candidate) => candidate.container === container)
}

async function through(name: string): Promise<{status: number; body: string; headers: string}> {
  return curl(`http://${ip}/`, {Host: `${name}.local`})
}

/** How many of `count` requests to `name` each body answered. */
async function bodies(name: string, count = REQUESTS): Promise<Record<string, number>> {
  const seen: Record<string, number> = {}
  for (let i = 0; i < count; i++) {
    const answer = await through(name)
    const key = answer.status === 200 ? answer.body.trim() : `status ${answer.status}`
    seen[key] = (seen[key] ?? 0) + 1
  }
  return seen
}

/** `docker run -d` labelled by hand, published on the bridge IP like highway would. */
async function runByHand(name: string, labels: string[], text: string, image = APP_IMAGE): Promise<void> {
  await docker('run', '-d', '--name', name, ...labels.flatMap((label) => ['--label', label]), '-p', `${ip}::9090`, image, ...serve(text))
}

async function removeContainers(...names: string[]): Promise<void> {
  for (const name of names) await dockerResult('rm', '-f', name)
}

beforeAll(async () => {
  ip = await bridgeIp()
  await ensureAppImage()
  await buildWithLabels(BAKED_SERVICE, 'io.highway.service=baked io.highway.ports=9090/tcp')
  await buildWithLabels(IMPOSTOR, 'io.highway.managed=true io.highway.component=proxy')
  await removeServices()
  await removeContainers('impostor')
  const up = await highway(['up'], env)
  expect(up.code, up.stderr).toBe(0)
})

afterAll(async () => {
  await removeServices()
  await removeContainers('impostor')
  await highway(PURGE_KEEPING_IMAGES, env)
  await dockerResult('rmi', BAKED_SERVICE, IMPOSTOR)
})

describe('a held name', () => {
  it('is not taken by a container that merely carries its label: requests reach the owner only, and ls shows the conflict', async () => {
    const owner = await highway(['run', '-d', '--name', 'api', '-p', '9090', APP_IMAGE, ...serve('owner')], env)
    expect(owner.code, owner.stderr).toBe(0)
    await runByHand('squatter', ['io.highway.service=api'], 'squatter')

    // The agent registers the squatter (its label is its own), and every proxy reads it as a conflict.
    const {value: conflict} = await until('squatter registered', async () => {
      const found = await row('squatter')
      return found?.role ? found : undefined
    })
    expect(conflict).toMatchObject({backend: '-', name: 'api', role: 'conflict', state: 'running'})
    expect(conflict.owner).toMatch(/^api on /)
    expect(conflict.problem).toBe(`conflict: api is owned by ${conflict.owner}, so this container gets no traffic`)
    expect(await row('api')).toMatchObject({owner: null, problem: null, role: 'owner'})

    expect(await bodies('api')).toEqual({owner: REQUESTS})
  })

  it('is joined on purpose with --replica-of: requests reach both, never the squatter', async () => {
    const replica = await highway(['run', '-d', '--name', 'api-2', '--replica-of', 'api', '-p', '9090', APP_IMAGE, ...serve('replica')], env)
    expect(replica.code, replica.stderr).toBe(0)
    // docker never saw the flag: the container carries the labels it stands for.
    expect(await docker('inspect', 'api-2', '--format', '{{index .Config.Labels "io.highway.service"}} {{index .Config.Labels "io.highway.replica-of"}}')).toBe(
      'api api',
    )
    await until('replica serving', async () => ((await through('api')).body.trim() === 'replica' ? true : undefined))

    const seen = await bodies('api')
    expect(Object.keys(seen).sort()).toEqual(['owner', 'replica'])
    expect(seen.owner + seen.replica).toBe(REQUESTS)
    expect(await row('api-2')).toMatchObject({name: 'api', problem: null, role: 'replica'})
    expect((await row('api-2'))?.owner).toMatch(/^api on /)
  })

  it('is joined on purpose with the replica label by plain docker run', async () => {
    await runByHand('api-3', ['io.highway.service=api', 'io.highway.replica-of=api'], 'labelled-replica')
    await until('labelled replica serving', async () => ((await through('api')).body.trim() === 'labelled-replica' ? true : undefined))
    const seen = await bodies('api')
    expect(Object.keys(seen).sort()).toEqual(['labelled-replica', 'owner', 'replica'])
    expect(await row('api-3')).toMatchObject({name: 'api', problem: null, role: 'replica'})
    expect((await row('squatter'))?.role).toBe('conflict')
  })
})

describe('--replica-of a name nobody runs', () => {
  it('starts the container as its owner', async () => {
    const result = await highway(['run', '-d', '--name', 'solo-1', '--replica-of', 'solo', '-p', '9090', APP_IMAGE, ...serve('solo')], env)
    expect(result.code, result.stderr).toBe(0)
    expect((await through('solo')).body.trim()).toBe('solo')
    const {value} = await until('solo registered', async () => {
      const found = await row('solo-1')
      return found?.role ? found : undefined
    })
    expect(value).toMatchObject({name: 'solo', owner: null, role: 'owner'})
  })
})

describe('labels baked into an image', () => {
  it('never register a container; the same image with the label given at create does', async () => {
    await runByHand('baked', [], 'baked', BAKED_SERVICE)
    expect(await docker('inspect', 'baked', '--format', '{{index .Config.Labels "io.highway.service"}}')).toBe('baked')
    // A second container of the image, with its own service label, started after it: once it
    // routes, the agent has had the first one's start event too.
    await runByHand('baked-own', ['io.highway.service=baked-own'], 'baked-own', BAKED_SERVICE)
    await until('baked-own routed', async () => ((await through('baked-own')).body.trim() === 'baked-own' ? true : undefined))

    const answer = await through('baked')
    expect(answer.status).toBe(404)
    expect(answer.headers).toMatch(/x-highway: not-found/i)
    expect(await row('baked')).toMatchObject({problem: 'never routed: the service label comes from its image', role: null})
  })

  it('never make a container highway’s: it survives `up` and `down`', async () => {
    await docker('run', '-d', '--name', 'impostor', IMPOSTOR, 'sleep', '3600')
    const impostor = await docker('inspect', 'impostor', '--format', '{{.Id}}')
    expect(await docker('inspect', 'impostor', '--format', '{{index .Config.Labels "io.highway.component"}}')).toBe('proxy')

    const up = await highway(['up'], env)
    expect(up.code, up.stderr).toBe(0)
    expect(await docker('inspect', 'impostor', '--format', '{{.Id}} {{.State.Running}}')).toBe(`${impostor} true`)
    const status = await highway(['status', '--json'], env)
    expect(status.code, status.stderr).toBe(0)
    const proxy = (JSON.parse(status.stdout) as {components: Array<{component: string; container: string | null}>}).components.find(
      (component) => component.component === 'proxy',
    )
    expect(proxy?.container).toBe('highway-proxy')

    const down = await highway(['down'], env)
    expect(down.code, down.stderr).toBe(0)
    expect(down.stdout).not.toContain('impostor')
    expect(await docker('inspect', 'impostor', '--format', '{{.Id}} {{.State.Running}}')).toBe(`${impostor} true`)
    const left = await docker('ps', '-a', '--format', '{{.Names}}')
    for (const name of INFRA_NAMES) expect(left.split('\n')).not.toContain(name)
  })
})
