// The rendered proxy config against the real HAProxy of highway's infrastructure image: `haproxy -c`
// in a throwaway container of the very image `highway up` runs the proxy from.
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {basename, join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {renderProxyConfig, type RenderedProxyConfig} from '../../src/proxy/haproxy.js'
import {BRIDGE_IP, IDS, makeRecord} from '../unit/support/highway-fixtures.js'
import {docker, highway, infraContainers, makeEnv, PURGE_KEEPING_IMAGES, run} from './harness.js'

const env = makeEnv()
const dirs: string[] = []
let image: string

// The image comes from `highway up` itself (built when missing, as for a user), never from whatever
// happens to be on the engine: if it cannot be had, every test here fails with up's own words.
beforeAll(async () => {
  await highway(['down'], env)
  const up = await highway(['up'], env)
  expect(up.code, `highway up failed, so there is no infrastructure image to check configs with:\n${up.stdout}${up.stderr}`).toBe(0)
  const proxy = (await infraContainers()).proxy
  expect(proxy, 'highway up succeeded but no proxy container is labelled as such').toBeDefined()
  image = await docker('inspect', proxy, '--format', '{{.Config.Image}}')
  expect(image).toMatch(/^highway\/infra:\S+$/)
})

afterAll(async () => {
  for (const dir of dirs) rmSync(dir, {force: true, recursive: true})
  await highway(PURGE_KEEPING_IMAGES, env)
})

/** Writes the config and its map where the container expects them (/run/highway) and runs `haproxy -c`. */
async function check(rendered: RenderedProxyConfig, extra = ''): Promise<{status: number; output: string}> {
  const dir = mkdtempSync(join(tmpdir(), 'highway-haproxy-'))
  dirs.push(dir)
  writeFileSync(join(dir, 'haproxy.cfg'), rendered.config + extra)
  writeFileSync(join(dir, basename(rendered.mapPath)), rendered.map)
  writeFileSync(join(dir, basename(rendered.statesPath)), rendered.states)
  const result = await run(
    'docker',
    ['run', '--rm', '--network', 'none', '-v', `${dir}:/run/highway`, image, 'haproxy', '-c', '-f', '/run/highway/haproxy.cfg'],
    {
      timeout: 60_000,
    },
  )
  return {output: `${result.stdout}${result.stderr}`, status: result.code}
}

const records = [
  makeRecord(),
  makeRecord({containerId: IDS.web2, containerName: 'web-2', ports: [{containerPort: '80/tcp', address: BRIDGE_IP, port: 49_154}]}),
  makeRecord({containerId: IDS.api, name: 'api', ports: [{containerPort: '8080/tcp', address: '10.0.0.12', port: 32_768}]}),
  makeRecord({containerId: IDS.db, name: 'db', ports: [{containerPort: '5432/tcp', address: BRIDGE_IP, port: 0}], state: 'stopped'}),
]

describe('haproxy -c on rendered configs, in the infrastructure image', () => {
  it('accepts a config with three routes, one of them stopped', async () => {
    const rendered = renderProxyConfig({domain: 'local', records})
    expect(rendered.config).toContain('status 503')
    expect(rendered.config).toContain('use_backend')
    const {output, status} = await check(rendered)
    // HAProxy 3 prints nothing for a valid config; any ALERT or WARNING line is a finding.
    expect(output.trim()).toBe('')
    expect(status).toBe(0)
  })

  it('accepts a config whose same-host servers are reached at their container address', async () => {
    const rendered = renderProxyConfig({domain: 'local', localHostId: 'hosta', records})
    expect(rendered.config).toContain('172.17.0.5:80')
    const {output, status} = await check(rendered)
    expect(output.trim()).toBe('')
    expect(status).toBe(0)
  })

  it('accepts the initial config with no routes (what the proxy starts with)', async () => {
    const {output, status} = await check(renderProxyConfig({domain: 'local', records: []}))
    // HAProxy 3 prints nothing for a valid config; any ALERT or WARNING line is a finding.
    expect(output.trim()).toBe('')
    expect(status).toBe(0)
  })

  it('accepts a config with 1,000 names, their backends taking highway’s pages from one defaults section', async () => {
    const many = Array.from({length: 1000}, (_, i) =>
      makeRecord({
        containerId: `${i.toString(16).padStart(12, '0')}${'a'.repeat(52)}`,
        name: `svc-${i}`,
        ports: [{containerPort: '80/tcp', address: '10.0.0.12', port: 30_000 + i}],
      }),
    )
    const rendered = renderProxyConfig({domain: 'local', records: many})
    expect(rendered.state.backends).toBe(1024)
    expect(rendered.servers).toHaveLength(1000)
    const {output, status} = await check(rendered)
    expect(output.trim()).toBe('')
    expect(status).toBe(0)
  })

  it('rejects a broken config (the check itself can fail)', async () => {
    const {output, status} = await check(renderProxyConfig({domain: 'local', records}), '\nbackend svc_web\n    bogus-keyword here\n')
    expect(status).not.toBe(0)
    expect(output).toContain('[ALERT]')
    expect(output).toContain('bogus-keyword')
  })
})
