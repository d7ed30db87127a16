import {mkdtempSync, readFileSync, readdirSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {basename, join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {ProxySync} from '../../../src/agent/proxy-sync.js'
import type {ServiceRecord} from '../../../src/core/types.js'
import {renderProxyConfig} from '../../../src/proxy/haproxy.js'

function record(name: string, port: number): ServiceRecord {
  return {
    containerId: `${name.padEnd(12, '0').replaceAll(/[^a-f0-9]/g, 'a')}${'b'.repeat(52)}`,
    containerIp: '172.17.0.9',
    containerName: name,
    hostId: 'host1',
    hostName: 'host1',
    name,
    ports: [{address: '172.17.0.1', containerPort: '9090/tcp', port}],
    schema: 1,
    state: 'running',
    updatedAt: new Date().toISOString(),
  }
}

function harness(records: ServiceRecord[], options: {failValidate?: () => boolean} = {}) {
  const runDir = mkdtempSync(join(tmpdir(), 'highway-sync-'))
  const validated: string[] = []
  const reloads: string[] = []
  /** Runtime API calls, in order with reloads: "runtime:<commands>" or "reload". */
  const calls: string[] = []
  const logs: string[] = []
  const sync = new ProxySync(() => records, {
    domain: 'local',
    log: (message) => logs.push(message),
    reload: async (socket) => {
      reloads.push(socket)
      calls.push('reload')
    },
    runtime: async (_socket, commands) => {
      calls.push(`runtime:${commands.join('; ')}`)
    },
    retryDelayMs: 5,
    runDir,
    validate: async (path) => {
      // Yield so that schedule() calls made "during" the render really overlap it.
      await new Promise((resolve) => setTimeout(resolve, 5))
      if (options.failValidate?.()) throw new Error('rejected')
      validated.push(readFileSync(path, 'utf8'))
    },
  })
  return {calls, logs, reloads, runDir, sync, validated}
}

describe('ProxySync', () => {
  it('writes the config and its map, validates, then reloads through the master socket', async () => {
    const {reloads, runDir, sync, validated} = harness([record('api', 32768)])
    await sync.schedule()
    expect(validated).toHaveLength(1)
    expect(reloads).toEqual([join(runDir, 'master.sock')])
    const files = readdirSync(runDir).sort()
    expect(files).toContain('haproxy.cfg')
    const map = files.find((file) => file.startsWith('routes-'))!
    expect(readFileSync(join(runDir, map), 'utf8')).toBe('api.local svc_api\n')
    expect(readFileSync(join(runDir, 'haproxy.cfg'), 'utf8')).toContain(join(runDir, map))
  })

  it('skips the reload when the rendered config has not changed', async () => {
    const {reloads, sync} = harness([record('api', 32768)])
    await sync.schedule()
    await sync.schedule()
    await sync.schedule()
    expect(reloads).toHaveLength(1)
    expect(sync.renders).toBe(3)
  })

  it('coalesces a burst of changes into at most one more render', async () => {
    const records = [record('api', 32768)]
    const {reloads, sync} = harness(records)
    const first = sync.schedule()
    for (let index = 0; index < 50; index++) {
      records.push(record(`svc${index}`, 33_000 + index))
      void sync.schedule()
    }
    await first
    await sync.schedule()
    expect(sync.renders).toBeLessThanOrEqual(3)
    expect(reloads.length).toBeLessThanOrEqual(2)
    expect(sync.configHash).not.toBeNull()
  })

  it('keeps the old config and retries when validation fails', async () => {
    let fail = true
    const {logs, reloads, runDir, sync} = harness([record('api', 32768)], {failValidate: () => fail})
    await sync.schedule()
    expect(reloads).toHaveLength(0)
    expect(readdirSync(runDir)).not.toContain('haproxy.cfg')
    expect(logs[0]).toMatch(/proxy update failed, retrying in 5 ms: rejected/)
    fail = false
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(reloads).toHaveLength(1)
    sync.stop()
  })

  it('takes a departed server out through the runtime API before the reload', async () => {
    const records = [record('api', 32768), record('web', 32769)]
    const {calls, sync} = harness(records)
    await sync.schedule()
    expect(calls).toEqual(['reload'])
    records[1] = {...records[1], ports: [{...records[1].ports[0], port: 0}], state: 'stopped'}
    await sync.schedule()
    const webServer = `svc_web/c${records[1].containerId.slice(0, 12)}`
    expect(calls).toEqual(['reload', `runtime:@1 set server ${webServer} state maint`, 'reload'])
  })

  it('switches a brand-new name on in a spare backend before the reload, against the live map', async () => {
    const records = [record('api', 32768)]
    const {calls, runDir, sync} = harness(records)
    await sync.schedule()
    const liveMap = readdirSync(runDir).find((file) => file.startsWith('routes-'))!
    records.push(record('web', 32769))
    await sync.schedule()
    const server = `highway_spare0/c${records[1].containerId.slice(0, 12)}`
    expect(calls).toEqual([
      'reload',
      `runtime:@1 add server ${server} 172.17.0.1:32769; @1 enable server ${server}; @1 add map ${join(runDir, liveMap)} web.local highway_spare0`,
      'reload',
    ])
    // A name the live config already has (here, stopped then started again) goes through the reload only.
    records[1] = {...records[1], ports: [{...records[1].ports[0], port: 0}], state: 'stopped'}
    await sync.schedule()
    records[1] = {...records[1], ports: [{...records[1].ports[0], port: 32770}], state: 'running'}
    await sync.schedule()
    expect(calls.slice(3)).toEqual([expect.stringMatching(/^runtime:@1 set server svc_web\/c\w+ state maint$/), 'reload', 'reload'])
  })

  it('writes the map beside itself and renames it over: a half-written one from a killed agent is never taken for it', async () => {
    const records = [record('api', 32768)]
    const map = basename(renderProxyConfig({domain: 'local', records}).mapPath)
    const {runDir, sync} = harness(records)
    writeFileSync(join(runDir, `${map}.new`), 'api.loc')
    await sync.schedule()
    expect(readdirSync(runDir).sort()).toEqual(['haproxy.cfg', map])
    expect(readFileSync(join(runDir, map), 'utf8')).toBe('api.local svc_api\n')
  })

  it('removes route maps the new config no longer uses', async () => {
    const records = [record('api', 32768)]
    const {runDir, sync} = harness(records)
    await sync.schedule()
    records.push(record('web', 32769))
    await sync.schedule()
    expect(readdirSync(runDir).filter((file) => file.startsWith('routes-'))).toHaveLength(1)
  })
})
