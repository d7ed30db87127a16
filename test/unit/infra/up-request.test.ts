import {describe, expect, it} from 'vitest'
import {DEFAULT_SETTINGS} from '../../../src/core/types.js'
import {MAX_LEASE_TTL, MIN_LEASE_TTL, validateRequest} from '../../../src/infra/up.js'
import {userError} from '../support/user-error.js'

describe('validateRequest', () => {
  it('keeps the lease TTL asked for, else the saved one, else 10 s', () => {
    expect(validateRequest({}, DEFAULT_SETTINGS).leaseTtl).toBe(10)
    expect(validateRequest({}, {...DEFAULT_SETTINGS, leaseTtl: 4}).leaseTtl).toBe(4)
    expect(validateRequest({leaseTtl: 30}, {...DEFAULT_SETTINGS, leaseTtl: 4}).leaseTtl).toBe(30)
  })

  it.each([0, MIN_LEASE_TTL - 1, MAX_LEASE_TTL + 1, 2.5])('refuses a lease TTL of %s in one line', (leaseTtl) => {
    expect(userError(() => validateRequest({leaseTtl}, DEFAULT_SETTINGS)).message).toMatch(/^invalid --lease-ttl \S+: expected whole seconds from 2 to 3600$/)
  })

  it('refuses a TTL a host running a shared etcd member cannot keep, and names the shortest it can', () => {
    const refused = userError(() => validateRequest({advertiseIp: '10.0.0.5', leaseTtl: 5}, DEFAULT_SETTINGS))
    expect(refused.message).toMatch(/^--lease-ttl 5 cannot be kept on this host: it runs an etcd member other hosts share/)
    expect(refused.suggestion).toBe('give --lease-ttl 6 or more (the default is 10 s)')
    expect(validateRequest({advertiseIp: '10.0.0.5', leaseTtl: 6}, DEFAULT_SETTINGS).leaseTtl).toBe(6)
    // Alone, or a client of others' etcd, it is the agent that says so (its log), not a refusal.
    expect(validateRequest({leaseTtl: 2}, DEFAULT_SETTINGS).leaseTtl).toBe(2)
    expect(validateRequest({advertiseIp: '10.0.0.5', etcd: ['https://10.0.0.6:2379'], leaseTtl: 2}, DEFAULT_SETTINGS).leaseTtl).toBe(2)
  })

  it('takes an advertise address beside another etcd: services are published there whoever runs etcd', () => {
    expect(validateRequest({advertiseIp: '10.0.0.5', etcd: ['https://10.0.0.6:2379']}, DEFAULT_SETTINGS)).toMatchObject({
      advertiseIp: '10.0.0.5',
      etcdEndpoints: ['https://10.0.0.6:2379'],
    })
  })
})
