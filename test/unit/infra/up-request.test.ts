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

  it('takes an advertise address beside another etcd: services are published there whoever runs etcd', () => {
    expect(validateRequest({advertiseIp: '10.0.0.5', etcd: ['https://10.0.0.6:2379']}, DEFAULT_SETTINGS)).toMatchObject({
      advertiseIp: '10.0.0.5',
      etcdEndpoints: ['https://10.0.0.6:2379'],
    })
  })
})
