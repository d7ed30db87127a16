import {describe, expect, it} from 'vitest'
import {HeldKeys, JOINABLE_RAFT, leaseFor} from '../../../src/registry/held-keys.js'
import {FakeRegistry} from '../support/fake-registry.js'

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
}

function values(registry: FakeRegistry): Record<string, string> {
  return Object.fromEntries([...registry.services()].map(([key, record]) => [key, record.name]))
}

const record = (name: string) => ({
  containerId: name.repeat(64).slice(0, 64),
  containerIp: '',
  containerName: name,
  createdAt: '2026-11-30T00:00:00.000000000Z',
  hostId: 'hosta',
  hostName: 'host-a',
  name,
  ports: [],
  replica: false,
  schema: 2,
  state: 'stopped',
  updatedAt: '2026-11-30T00:00:00.000Z',
})
const key = (name: string) => `/highway/v2/hosts/hosta/services/${name}/${record(name).containerId}`

describe('HeldKeys', () => {
  it('puts every key under one lease of the given TTL', async () => {
    const registry = new FakeRegistry()
    const held = new HeldKeys(registry, 7)
    await held.put(key('a'), JSON.stringify(record('a')))
    await held.put(key('b'), JSON.stringify(record('b')))
    expect(registry.leases).toHaveLength(1)
    expect(registry.leases[0].ttlSeconds).toBe(7)
    expect(registry.leaseOf(key('a'))).toBe(registry.leases[0])
    expect(registry.leaseOf(key('b'))).toBe(registry.leases[0])
  })

  it('grants a new lease and puts every held key again once the lease is lost, retrying while etcd refuses', async () => {
    const registry = new FakeRegistry()
    const pauses: number[] = []
    const held = new HeldKeys(registry, 10, async (attempt) => void pauses.push(attempt))
    const events: string[] = []
    held.on('lost', () => events.push('lost'))
    held.on('error', (error: Error) => events.push(`error ${error.message}`))
    held.on('regranted', (count: number) => events.push(`regranted ${count}`))
    await held.put(key('a'), JSON.stringify(record('a')))
    await held.put(key('b'), JSON.stringify(record('b')))
    await held.delete(key('b'))

    registry.failGrants = 2
    registry.leases[0].lose()
    expect(values(registry)).toEqual({})
    await settle()

    expect(events).toEqual(['lost', 'error etcd unavailable', 'error etcd unavailable', 'regranted 1'])
    expect(pauses).toEqual([0, 1])
    expect(values(registry)).toEqual({[key('a')]: 'a'})
    expect(registry.leaseOf(key('a'))).toBe(registry.leases.at(-1))
    expect(registry.leases.at(-1)).not.toBe(registry.leases[0])
    expect(held.has(key('a'))).toBe(true)
    expect(held.has(key('b'))).toBe(false)
  })

  it('ignores a loss reported by a lease it has already replaced', async () => {
    const registry = new FakeRegistry()
    const held = new HeldKeys(registry, 10, async () => {})
    let losses = 0
    held.on('lost', () => losses++)
    await held.put(key('a'), JSON.stringify(record('a')))
    const first = registry.leases[0]
    first.lose()
    await settle()
    const leases = registry.leases.length
    first.lose()
    await settle()
    expect(losses).toBe(1)
    expect(registry.leases).toHaveLength(leases)
    expect(values(registry)).toEqual({[key('a')]: 'a'})
  })
})

describe('leaseFor', () => {
  it('leaves room for a new leader restarting every lease where this host runs a member, and less where it does not', () => {
    // Up to two election timeouts before one, one more that etcd adds, the 500 ms revoke loop and the way to the proxies: 4 s.
    expect(leaseFor(10, JOINABLE_RAFT.electionMs)).toEqual({grantSeconds: 6, honoured: true, shortestSeconds: 6})
    expect(leaseFor(6, JOINABLE_RAFT.electionMs)).toEqual({grantSeconds: 2, honoured: true, shortestSeconds: 6})
    // A client only: its death elects nobody.
    expect(leaseFor(10)).toEqual({grantSeconds: 9, honoured: true, shortestSeconds: 3})
    // A short election timeout leaves more of the TTL to the lease.
    expect(leaseFor(10, 200)).toEqual({grantSeconds: 8, honoured: true, shortestSeconds: 3})
  })

  it("never asks below etcd's own floor (1.5 election timeouts, which etcd would apply silently), and says the TTL is not kept", () => {
    expect(leaseFor(4, JOINABLE_RAFT.electionMs)).toEqual({grantSeconds: 2, honoured: false, shortestSeconds: 6})
    expect(leaseFor(2)).toEqual({grantSeconds: 2, honoured: false, shortestSeconds: 3})
  })
})
