import {mkdtempSync, readFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {TcpSync} from '../../../src/agent/tcp-sync.js'
import type {ServiceRecord} from '../../../src/core/types.js'
import {parseTcpTable, renderHosts} from '../../../src/tcp/table.js'
import {BRIDGE_IP, IDS, makeRecord} from '../support/highway-fixtures.js'

const record = (name: string, id: string) => makeRecord({containerId: id, name, ports: [{address: BRIDGE_IP, containerPort: '6379/tcp', port: 49_200}]})

/** The names and addresses of the table on disk, as dnsmasq would get them from the forwarder. */
const hosts = (runDir: string) => renderHosts(parseTcpTable(readFileSync(join(runDir, 'tcp.json'), 'utf8'))!)

function sync(runDir: string, records: () => ServiceRecord[]): TcpSync {
  return new TcpSync(records, {bridgeIp: BRIDGE_IP, domain: 'local', localHostId: 'hosta', log: () => {}, range: '198.19.0.0/16', runDir})
}

describe('TcpSync', () => {
  it('writes the forwarder’s table, and nothing when nothing changed', async () => {
    const runDir = mkdtempSync(join(tmpdir(), 'highway-tcp-sync-'))
    let records = [record('cache', IDS.web1)]
    const tcp = sync(runDir, () => records)
    await tcp.schedule()
    await tcp.schedule()
    expect(tcp.writes).toBe(1)
    expect(parseTcpTable(readFileSync(join(runDir, 'tcp.json'), 'utf8'))?.names.map((entry) => entry.address)).toEqual(['198.19.0.2'])
    expect(hosts(runDir)).toBe('198.19.0.2 cache.local\n')
    records = [record('api', IDS.web2), record('cache', IDS.web1)]
    await tcp.schedule()
    expect(hosts(runDir)).toBe('198.19.0.3 api.local\n198.19.0.2 cache.local\n')
  })

  it('coalesces a burst: 100 calls at once render one table, of the latest records', async () => {
    const runDir = mkdtempSync(join(tmpdir(), 'highway-tcp-sync-'))
    const records: ServiceRecord[] = []
    const tcp = sync(runDir, () => records)
    const calls: Array<Promise<void>> = []
    for (let index = 0; index < 100; index++) {
      records.push(record(`n${index}`, `${String(index).padStart(12, '0')}${'0'.repeat(52)}`))
      calls.push(tcp.schedule())
    }
    await Promise.all(calls)
    expect([tcp.renders, tcp.writes]).toEqual([1, 1])
    expect(parseTcpTable(readFileSync(join(runDir, 'tcp.json'), 'utf8'))?.names).toHaveLength(100)
  })

  it('keeps every name’s address across an agent restart: the next agent starts from the table on disk', async () => {
    const runDir = mkdtempSync(join(tmpdir(), 'highway-tcp-sync-'))
    await sync(runDir, () => [record('b', IDS.web2), record('c', IDS.api)]).schedule()
    const restarted = sync(runDir, () => [record('a', IDS.web1), record('c', IDS.api)])
    await restarted.schedule()
    // c keeps .3; a takes .2, which b left.
    expect(hosts(runDir)).toBe('198.19.0.2 a.local\n198.19.0.3 c.local\n')
  })

  it('logs and goes on when the directory cannot be written', async () => {
    const logs: string[] = []
    const tcp = new TcpSync(() => [record('cache', IDS.web1)], {
      domain: 'local',
      log: (message) => logs.push(message),
      range: '198.19.0.0/16',
      runDir: '/nonexistent/dir',
    })
    await tcp.schedule()
    expect(logs).toEqual([expect.stringMatching(/^tcp table not written: ENOENT/)])
  })
})
