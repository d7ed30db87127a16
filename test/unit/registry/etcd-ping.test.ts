import {describe, expect, it} from 'vitest'
import {LOOPBACK_ETCD_URL} from '../../../src/core/settings.js'
import {pingEveryMs} from '../../../src/registry/etcd.js'
import {AGENT_ETCD_URL} from '../../../src/registry/pki.js'

const tls = {ca: 'ca', cert: 'cert', key: 'key'}

describe('pingEveryMs', () => {
  it('rarely pings this host’s own member where no other host is involved: the CLI on loopback, the agent on the registry network', () => {
    expect(pingEveryMs({endpoints: [LOOPBACK_ETCD_URL], tls})).toBe(30_000)
    expect(pingEveryMs({endpoints: [AGENT_ETCD_URL], tls})).toBe(30_000)
  })

  it('pings every second where a member may vanish with another host: other members, another host’s etcd, an advertise address', () => {
    expect(pingEveryMs({endpoints: [AGENT_ETCD_URL, 'https://192.0.2.7:2379'], tls})).toBe(1000)
    expect(pingEveryMs({endpoints: ['https://192.0.2.7:2379'], tls})).toBe(1000)
    expect(pingEveryMs({advertiseIp: '192.0.2.5', endpoints: [AGENT_ETCD_URL], tls})).toBe(1000)
  })

  it('keeps etcd’s own 5 s floor for an etcd of the user’s own without TLS', () => {
    expect(pingEveryMs({endpoints: ['http://127.0.0.1:2379']})).toBe(5000)
  })
})
