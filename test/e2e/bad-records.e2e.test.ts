// Malformed records written straight into the real etcd, as any writer could: the agent skips each
// with one log line and keeps routing, a new service still routes, `ls` lists them as invalid, and
// the agent never restarts.
import type {Etcd3} from 'etcd3'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {ServiceRow} from '../../src/service/list.js'
import {
  APP_IMAGE,
  bridgeIp,
  curl,
  docker,
  dockerResult,
  ensureAppImage,
  etcdAs,
  highway,
  infraContainers,
  makeEnv,
  PURGE_KEEPING_IMAGES,
  removeServices,
  serve,
  until,
} from './harness.js'

const env = makeEnv()
let ip: string
let etcd: Etcd3

/** Another host's records, so this host's agent never takes them for its own orphans. */
const HOST = 'e2e-neighbour'
const id = (digit: string) => digit.repeat(64)
const key = (name: string, containerId: string) => `/highway/v2/hosts/${HOST}/services/${name}/${containerId}`

function record(name: string, containerId: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    containerId,
    containerIp: '',
    containerName: `${name}-1`,
    hostId: HOST,
    hostName: 'neighbour',
    name,
    ports: [{address: '10.255.255.1', containerPort: '80/tcp', port: 40_000}],
    createdAt: '2026-11-30T00:00:00.000000000Z',
    replica: false,
    schema: 2,
    state: 'running',
    updatedAt: new Date().toISOString(),
    ...overrides,
  }
}

const {ports: _ports, ...withoutPorts} = record('noports', id('a'))
const BAD: Record<string, {value: string; reason: RegExp}> = {
  [key('noports', id('a'))]: {reason: /^ports is missing$/, value: JSON.stringify(withoutPorts)},
  [key('loop', id('b'))]: {
    reason: /^ports\[0\]\.address: 127\.0\.0\.1 is a loopback address$/,
    value: JSON.stringify(record('loop', id('b'), {ports: [{address: '127.0.0.1', containerPort: '80/tcp', port: 2379}]})),
  },
  [key('garbage', id('c'))]: {reason: /^not JSON /, value: '{"schema": 1, "name": "garbage", "ports": ['},
  // Claims api's traffic under a key for another name.
  [key('liar', id('d'))]: {reason: /^name "api" does not match the key \("liar"\)$/, value: JSON.stringify(record('api', id('d')))},
}

async function through(name: string): Promise<{status: number; body: string; headers: string}> {
  return curl(`http://${ip}/`, {Host: `${name}.local`})
}

async function runService(name: string) {
  const result = await highway(['run', '-d', '--name', name, '-p', '9090', APP_IMAGE, ...serve(`hello-${name}`)], env)
  expect(result.code, result.stderr).toBe(0)
}

async function agentLog(): Promise<string> {
  const {agent} = await infraContainers()
  const result = await dockerResult('logs', agent)
  return result.stdout + result.stderr
}

beforeAll(async () => {
  ip = await bridgeIp()
  await ensureAppImage()
  await removeServices()
  await highway(['down'], env)
  const up = await highway(['up'], env)
  expect(up.code, up.stdout + up.stderr).toBe(0)
  // Valid credentials, as a neighbour host or a person with etcdctl has them: the records are what is bad.
  etcd = etcdAs(env, 'root')
  await runService('api')
})

afterAll(async () => {
  await etcd
    ?.delete()
    .prefix(`/highway/v2/hosts/${HOST}/`)
    .exec()
    .catch(() => {})
  etcd?.close()
  await removeServices()
  await highway(PURGE_KEEPING_IMAGES, env)
})

describe('malformed records in etcd', () => {
  it('are skipped by the agent with one log line each, while the routed service keeps answering', async () => {
    expect((await through('api')).body.trim()).toBe('hello-api')
    for (const [badKey, {value}] of Object.entries(BAD)) await etcd.put(badKey).value(value)

    // Each is logged once, naming its key and why.
    await until('the agent logs every bad record', async () => {
      const log = await agentLog()
      return Object.keys(BAD).every((badKey) => log.includes(`skipping invalid record "${badKey}"`)) ? log : undefined
    })
    expect((await through('api')).body.trim()).toBe('hello-api')
    // Nothing of them is routed: the loopback record (pointing at etcd's own port) and the liar get no route.
    expect((await through('loop')).status).toBe(404)
    expect((await through('liar')).status).toBe(404)
    expect((await through('noports')).status).toBe(404)
  })

  it('do not stop a new service from routing, and stay logged once', async () => {
    await runService('web')
    expect((await through('web')).body.trim()).toBe('hello-web')
    expect((await through('api')).body.trim()).toBe('hello-api')
    const log = await agentLog()
    for (const badKey of Object.keys(BAD)) {
      expect(log.split('\n').filter((line) => line.includes(`skipping invalid record "${badKey}"`)).length, badKey).toBe(1)
    }
  })

  it('are listed as invalid by `highway ls --json`, with their key and reason, beside the services', async () => {
    const result = await highway(['ls', '--json'], env)
    expect(result.code, result.stderr).toBe(0)
    const rows = JSON.parse(result.stdout) as ServiceRow[]
    expect(rows.filter((row) => row.state === 'running').map((row) => row.name)).toEqual(['api', 'web'])
    const invalid = rows.filter((row) => row.state === 'invalid')
    expect(invalid.map((row) => row.key).sort()).toEqual(Object.keys(BAD).sort())
    for (const row of invalid) expect(row.problem, row.key).toMatch(BAD[row.key!].reason)

    const table = await highway(['ls'], env)
    expect(table.code, table.stderr).toBe(0)
    expect(table.stdout).toContain('4 invalid record(s) in etcd, skipped by the proxy:')
    for (const badKey of Object.keys(BAD)) expect(table.stdout).toContain(badKey)
  })

  it('never restarted the agent', async () => {
    const {agent} = await infraContainers()
    expect(await docker('inspect', agent, '--format', '{{.RestartCount}} {{.State.Running}} {{.State.Status}}')).toBe('0 true running')
    expect(await agentLog()).not.toMatch(/unhandled rejection|highway agent failed/)
  })
})
