import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {LOOPBACK_ETCD_URL, etcdEndpoints, loadSettings, saveSettings} from '../../../src/core/settings.js'
import {DEFAULT_SETTINGS} from '../../../src/core/types.js'

const env = () => ({HIGHWAY_CONFIG_DIR: mkdtempSync(join(tmpdir(), 'highway-settings-'))})

describe('settings', () => {
  it('keeps what a host that joined as an etcd member needs across runs: its member, its peers, its lease TTL', () => {
    const where = env()
    const saved = {
      ...DEFAULT_SETTINGS,
      advertiseIp: '10.0.0.6',
      etcdMember: {initialCluster: 'highway=https://10.0.0.5:2380,highway-b=https://10.0.0.6:2380', name: 'highway-b'},
      etcdPeers: ['https://10.0.0.5:2379'],
      leaseTtl: 4,
    }
    saveSettings(saved, where)
    expect(loadSettings(where)).toEqual(saved)
    // The CLI asks its own member first, then the others.
    expect(etcdEndpoints(loadSettings(where))).toEqual([LOOPBACK_ETCD_URL, 'https://10.0.0.5:2379'])
  })

  it('drops a malformed member rather than start etcd from it', () => {
    const where = env()
    writeFileSync(join(where.HIGHWAY_CONFIG_DIR, 'settings.json'), JSON.stringify({etcdMember: {name: 7}}))
    expect(loadSettings(where).etcdMember).toBeUndefined()
  })
})
