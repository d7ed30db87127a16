import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {UserError} from '../../../src/core/errors.js'
import {dnsCommand, dnsmasqArgs} from '../../../src/dns/dnsmasq.js'
import {assertDnsmasqArgs, dnsInput} from '../support/arbitraries.js'

describe('dnsmasqArgs, property-based', () => {
  it('either builds the arguments or refuses with a UserError, whatever the domain, bridge IP and upstreams', () => {
    const text = fc.oneof(fc.string({unit: 'binary'}), fc.ipV4(), fc.constantFrom('0.0.0.0', 'local', '.local.', 'a..b'))
    fc.assert(
      fc.property(fc.record({bridgeIp: text, domain: text, upstreams: fc.array(text, {maxLength: 3})}), (input) => {
        for (const build of [dnsmasqArgs, dnsCommand]) {
          try {
            build(input)
          } catch (error) {
            expect(error).toBeInstanceOf(UserError)
          }
        }
      }),
      {numRuns: 1000},
    )
  })

  it('gives well-formed arguments for every valid input, and the DNS command runs exactly them', () => {
    fc.assert(
      fc.property(dnsInput, (input) => {
        const args = dnsmasqArgs(input)
        assertDnsmasqArgs(input, args)
        const command = dnsCommand(input)
        expect(command.slice(-args.length)).toEqual(args)
      }),
      {numRuns: 500},
    )
  })
})
