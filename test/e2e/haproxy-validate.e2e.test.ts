import {execFileSync, spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {basename, join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {renderProxyConfig, type RenderedProxyConfig} from '../../src/proxy/haproxy.js'
import {BRIDGE_IP, IDS, makeRecord} from '../unit/support/highway-fixtures.js'

/**
 * Bonus check: the rendered config is accepted by the real HAProxy in highway's infrastructure image.
 * Skipped only when there is no Docker engine or no highway/infra image on it.
 */
function findImage(): {image?: string; reason?: string} {
  let listing: string
  try {
    listing = execFileSync('docker', ['image', 'ls', 'highway/infra', '--format', '{{.Repository}}:{{.Tag}}'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 20_000,
    })
  } catch (error) {
    return {reason: `no usable docker CLI/engine (${(error as Error).message.split('\n')[0]})`}
  }
  const image = listing
    .split('\n')
    .map((line) => line.trim())
    .find((line) => line && !line.endsWith(':<none>'))
  return image ? {image} : {reason: 'no highway/infra image on this engine (run `highway up` or build it first)'}
}

const {image, reason} = findImage()
const dirs: string[] = []

afterAll(() => {
  for (const dir of dirs) rmSync(dir, {force: true, recursive: true})
})

/** Writes the config and its map where the container expects them (/run/highway) and runs `haproxy -c`. */
function check(rendered: RenderedProxyConfig, extra = ''): {status: number | null; output: string} {
  const dir = mkdtempSync(join(tmpdir(), 'highway-haproxy-'))
  dirs.push(dir)
  writeFileSync(join(dir, 'haproxy.cfg'), rendered.config + extra)
  writeFileSync(join(dir, basename(rendered.mapPath)), rendered.map)
  const result = spawnSync(
    'docker',
    ['run', '--rm', '--network', 'none', '-v', `${dir}:/run/highway`, image!, 'haproxy', '-c', '-f', '/run/highway/haproxy.cfg'],
    {encoding: 'utf8', timeout: 60_000},
  )
  return {output: `${result.stdout}${result.stderr}${result.error ? `\n(spawn error: ${result.error.message})` : ''}`, status: result.status}
}

const records = [
  makeRecord(),
  makeRecord({containerId: IDS.web2, containerName: 'web-2', ports: [{containerPort: '80/tcp', address: BRIDGE_IP, port: 49_154}]}),
  makeRecord({containerId: IDS.api, name: 'api', ports: [{containerPort: '8080/tcp', address: '10.0.0.12', port: 32_768}]}),
  makeRecord({containerId: IDS.db, name: 'db', ports: [{containerPort: '5432/tcp', address: BRIDGE_IP, port: 0}], state: 'stopped'}),
]

describe.skipIf(!image)(`haproxy -c on rendered configs (${image ?? `SKIPPED: ${reason}`})`, () => {
  it('accepts a config with three routes, one of them stopped', {timeout: 90_000}, () => {
    const rendered = renderProxyConfig({domain: 'local', records})
    expect(rendered.config).toContain('status 503')
    expect(rendered.config).toContain('use_backend')
    const {output, status} = check(rendered)
    // HAProxy 3 prints nothing for a valid config; any ALERT or WARNING line is a finding.
    expect(output.trim()).toBe('')
    expect(status).toBe(0)
  })

  it('accepts the initial config with no routes (what the proxy starts with)', {timeout: 90_000}, () => {
    const {output, status} = check(renderProxyConfig({domain: 'local', records: []}))
    // HAProxy 3 prints nothing for a valid config; any ALERT or WARNING line is a finding.
    expect(output.trim()).toBe('')
    expect(status).toBe(0)
  })

  it('rejects a broken config (the check itself can fail)', {timeout: 90_000}, () => {
    const {output, status} = check(renderProxyConfig({domain: 'local', records}), '\nbackend svc_web\n    bogus-keyword here\n')
    expect(status).not.toBe(0)
    expect(output).toContain('[ALERT]')
    expect(output).toContain('bogus-keyword')
  })
})
