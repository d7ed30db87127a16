// docs/compose.md's compose file, run by Debian's docker-compose against the real engine: a compose
// service registered by its labels, reached by name from the host (highway's DNS, then the proxy)
// and from another container of the project, and unrouted again by `docker-compose down`.
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {ServiceRow} from '../../src/service/list.js'
import {APP_IMAGE, bridgeIp, curl, ensureAppImage, highway, makeEnv, ownAddress, PURGE_KEEPING_IMAGES, removeServices, ROOT, run, until} from './harness.js'

const env = makeEnv()
const dir = mkdtempSync(join(tmpdir(), 'highway-compose-'))
const PROJECT = 'highway-compose-test'
let ip: string

/** The documented file, with the test's image and commands in place of `myimage` and busybox's. */
function composeFile(): string {
  const doc = readFileSync(join(ROOT, 'docs', 'compose.md'), 'utf8')
  const yaml = /```yaml\n([\s\S]*?)```/.exec(doc)?.[1]
  if (!yaml) throw new Error('docs/compose.md has no yaml block')
  return yaml
    .replace(
      'image: myimage',
      `image: ${APP_IMAGE}\n    command: ['sh', '-c', 'mkdir -p /www && echo hello-compose > /www/index.html && exec httpd -f -p 9090 -h /www']`,
    )
    .replace('image: busybox', `image: ${APP_IMAGE}`)
    .replace(/command: \['sh', '-c', 'wget[^\n]*/, "command: ['sleep', '3600']")
}

const compose = (...args: string[]) => run('docker-compose', ['-p', PROJECT, '-f', join(dir, 'compose.yaml'), ...args], {env: {...env, HIGHWAY_BRIDGE_IP: ip}})

beforeAll(async () => {
  ip = await bridgeIp()
  await ensureAppImage()
  await removeServices()
  const up = await highway(['up'], env)
  expect(up.code, up.stderr).toBe(0)
  writeFileSync(join(dir, 'compose.yaml'), composeFile())
})

afterAll(async () => {
  await compose('down', '--timeout', '1')
  await removeServices()
  await highway(PURGE_KEEPING_IMAGES, env)
})

describe('docker-compose', () => {
  it('registers a compose service by its labels and routes it by name from the host', async () => {
    const started = await compose('up', '-d')
    expect(started.code, started.stderr).toBe(0)
    // compose returns once the containers start; the agent registers them a moment later, and then
    // the name answers an address of its own, where port 80 reaches the proxy too.
    const {value} = await until(
      'api.local through the proxy',
      async () => {
        const answer = await curl('http://api.local/', {}, ['--resolve', `api.local:80:${ip}`])
        return answer.status === 200 ? answer.body.trim() : undefined
      },
      15_000,
      50,
    )
    expect(value).toBe('hello-compose')
    const own = await ownAddress('api.local', ip)
    expect((await curl('http://api.local/', {}, ['--resolve', `api.local:80:${own}`])).body.trim()).toBe('hello-compose')
    const rows = JSON.parse((await highway(['ls', '--json'], env)).stdout) as ServiceRow[]
    expect(rows.map((row) => [row.name, row.state, row.backend.startsWith(`${ip}:`)])).toEqual([['api', 'running', true]])
  })

  it('reaches it by name from another container of the project, on the project’s own network', async () => {
    const result = await compose('exec', '-T', 'client', 'sh', '-c', 'timeout 5 wget -qO- http://api.local/')
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout.trim()).toBe('hello-compose')
    const network = await run('docker', ['inspect', `${PROJECT}_client_1`, '--format', '{{range $name, $_ := .NetworkSettings.Networks}}{{$name}}{{end}}'])
    expect(network.stdout.trim()).toBe(`${PROJECT}_default`)
  })

  it('takes the route away when compose removes the service', async () => {
    const down = await compose('down', '--timeout', '1')
    expect(down.code, down.stderr).toBe(0)
    await until(
      'api.local unrouted',
      async () => ((await curl('http://api.local/', {}, ['--resolve', `api.local:80:${ip}`])).status === 404 ? true : undefined),
      15_000,
      50,
    )
  })
})
