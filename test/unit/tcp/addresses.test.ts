import {describe, expect, it} from 'vitest'
import {allocate, inRange, parseRange, probeAddress} from '../../../src/tcp/addresses.js'
import {userError} from '../support/user-error.js'

describe('parseRange', () => {
  it('takes an IPv4 range from /16 to /28 given by its first address', () => {
    expect(parseRange('198.19.0.0/16')).toEqual({base: 198 * 2 ** 24 + 19 * 2 ** 16, cidr: '198.19.0.0/16', size: 65_536})
    expect(parseRange('10.99.7.16/28').size).toBe(16)
  })

  it.each([
    ['198.19.0.0', 'no prefix'],
    ['198.19.0.0/8', 'too wide'],
    ['198.19.0.0/30', 'too narrow'],
    ['198.19.0.1/16', 'not the first address'],
    ['127.0.0.0/16', 'loopback'],
    ['169.254.0.0/16', 'link-local'],
    ['224.0.0.0/16', 'multicast'],
    ['198.19.0.0/16; rm -rf /', 'not a range'],
  ])('refuses %s (%s) in one line', (cidr) => {
    expect(userError(() => parseRange(cidr)).message).toMatch(/^invalid TCP address range "[^\n]+$/)
  })

  it('knows its addresses and highway’s own first one', () => {
    const range = parseRange('198.19.0.0/16')
    expect([inRange(range, '198.19.255.254'), inRange(range, '198.20.0.0'), inRange(range, 'nope')]).toEqual([true, false, false])
    expect(probeAddress(range)).toBe('198.19.0.1')
  })
})

describe('allocate', () => {
  const range = parseRange('10.0.0.0/28')

  it('gives new names the lowest free addresses, never the network, highway’s own or the broadcast address', () => {
    expect([...allocate(range, ['b', 'a'], new Map())]).toEqual([
      ['a', '10.0.0.2'],
      ['b', '10.0.0.3'],
    ])
  })

  it('keeps the address a name had, and hands a freed one to the next new name', () => {
    const first = allocate(range, ['a', 'b', 'c'], new Map())
    const second = allocate(range, ['c', 'd'], first)
    expect(second.get('c')).toBe(first.get('c'))
    expect(second.get('d')).toBe('10.0.0.2')
  })

  it('ignores a previous address outside the range or already taken', () => {
    const result = allocate(
      range,
      ['a', 'b'],
      new Map([
        ['a', '10.0.1.5'],
        ['b', '10.0.0.1'],
      ]),
    )
    expect([...result.values()]).toEqual(['10.0.0.2', '10.0.0.3'])
  })

  it('gives no address to names beyond the range’s room (13 in a /28)', () => {
    const names = Array.from({length: 20}, (_, index) => `n${String(index).padStart(2, '0')}`)
    const result = allocate(range, names, new Map())
    expect(result.size).toBe(13)
    expect(new Set(result.values()).size).toBe(13)
    expect([...result.values()].every((address) => address !== '10.0.0.15' && address !== '10.0.0.1')).toBe(true)
  })
})
