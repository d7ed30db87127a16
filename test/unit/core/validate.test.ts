import {describe, expect, it} from 'vitest'
import {userError} from '../support/user-error.js'
import {assertDomain, assertIPv4, assertServiceName, isDnsLabel, isDomain, isPort} from '../../../src/core/validate.js'

const label63 = 'a'.repeat(63)

describe('isDnsLabel', () => {
  it.each(['a', '0', 'web', 'web-1', '1web', 'a-b-c', 'a--b', 'xn--bcher-kva', label63])('accepts %j', (value) => {
    expect(isDnsLabel(value)).toBe(true)
  })

  it.each(['', '-', '-web', 'web-', 'Web', 'WEB', 'web_1', 'web.1', 'web 1', 'web\n', '\nweb', 'we"b', 'wéb', 'web/x', 'a'.repeat(64)])(
    'rejects %j',
    (value) => {
      expect(isDnsLabel(value)).toBe(false)
    },
  )
})

describe('assertServiceName', () => {
  it('returns a valid name unchanged', () => {
    expect(assertServiceName('web-1')).toBe('web-1')
  })

  it('throws a UserError naming the rule', () => {
    const error = userError(() => assertServiceName('My_App'))
    expect(error.message).toBe(
      'invalid service name "My_App": use a DNS label (lowercase letters, digits and hyphens, at most 63, not starting or ending with a hyphen)',
    )
    expect(error.exitCode).toBe(1)
  })
})

describe('isDomain', () => {
  // 63 + 1 + 63 + 1 + 63 + 1 + 8 = 200 characters.
  const domain200 = `${label63}.${label63}.${label63}.${'b'.repeat(8)}`

  it.each(['local', 'test', 'dev.local', 'a.b.c.d', 'my-domain.example', `${label63}.x`, domain200])('accepts %j', (value) => {
    expect(isDomain(value)).toBe(true)
  })

  it('accepts exactly 200 characters and rejects 201', () => {
    expect(domain200).toHaveLength(200)
    expect(isDomain(domain200)).toBe(true)
    expect(isDomain(`${domain200.slice(0, -1)}bb`)).toBe(false)
  })

  it.each(['', '.', '.local', 'local.', 'a..b', 'LOCAL', 'Dev.local', 'lo_cal', 'local/x', 'local x', '-a.local', `${'a'.repeat(64)}.x`])(
    'rejects %j',
    (value) => {
      expect(isDomain(value)).toBe(false)
    },
  )
})

describe('assertDomain', () => {
  it.each([
    ['local', 'local'],
    ['.local', 'local'],
    ['local.', 'local'],
    ['..dev.test..', 'dev.test'],
  ])('normalises %j to %j', (input, output) => {
    expect(assertDomain(input)).toBe(output)
  })

  it.each(['', '.', '..', 'Local', 'a..b', 'lo cal'])('throws a UserError for %j', (value) => {
    expect(userError(() => assertDomain(value)).message).toBe(
      `invalid domain "${value}": use DNS labels separated by dots, lowercase letters, digits and hyphens (for example "local" or "test")`,
    )
  })
})

describe('assertIPv4', () => {
  it.each(['172.17.0.1', '10.0.0.1', '127.0.0.1', '255.255.255.255', '1.2.3.4'])('returns %j', (value) => {
    expect(assertIPv4(value, 'bridge IP')).toBe(value)
  })

  it('rejects 0.0.0.0 with its own message', () => {
    const error = userError(() => assertIPv4('0.0.0.0', 'bridge IP'))
    expect(error.message).toBe('bridge IP cannot be 0.0.0.0: highway never listens on every interface; give the docker bridge address')
  })

  it.each(['', '256.0.0.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', '::1', '::ffff:1.2.3.4', 'localhost', ' 1.2.3.4', '1.2.3.4\n', '1.2.3.4/32'])(
    'rejects %j naming what it is',
    (value) => {
      expect(userError(() => assertIPv4(value, 'upstream DNS server')).message).toBe(
        `invalid upstream DNS server "${value}": expected an IPv4 address such as 172.17.0.1`,
      )
    },
  )
})

describe('isPort', () => {
  it.each([1, 80, 8080, 65_535])('accepts %s', (value) => {
    expect(isPort(value)).toBe(true)
  })

  it.each([0, -1, 65_536, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 1e10])('rejects %s', (value) => {
    expect(isPort(value)).toBe(false)
  })

  it('rejects a numeric string', () => {
    expect(isPort('80' as unknown as number)).toBe(false)
  })
})
