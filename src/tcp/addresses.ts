import {isIPv4} from 'node:net'
import {UserError} from '../core/errors.js'

/**
 * The range service addresses are given from by default: part of 198.18.0.0/15, which RFC 2544
 * reserves for benchmarking, so no public host and no usual LAN uses it. Its lower half,
 * 198.18.0.0/16, is the "fake-ip" range of several proxy tools; this is the upper one.
 */
export const DEFAULT_TCP_RANGE = '198.19.0.0/16'

export interface AddressRange {
  cidr: string
  /** The network address as a number, and how many addresses the range holds. */
  base: number
  size: number
}

function toNumber(address: string): number {
  return address.split('.').reduce((value, octet) => value * 256 + Number(octet), 0)
}

export function toAddress(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.')
}

/** A range from /16 (65,534 names) to /28 (13): wider would swallow too much, narrower holds too few names to be useful. */
export function parseRange(cidr: string): AddressRange {
  const match = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(cidr)
  const prefix = Number(match?.[2])
  if (!match || !isIPv4(match[1]) || prefix < 16 || prefix > 28) {
    throw new UserError(`invalid TCP address range "${cidr}": expected an IPv4 range from /16 to /28, such as ${DEFAULT_TCP_RANGE}`)
  }
  const size = 2 ** (32 - prefix)
  const base = toNumber(match[1])
  if (base % size !== 0) throw new UserError(`invalid TCP address range "${cidr}": ${match[1]} is not the first address of a /${prefix}`)
  const first = Number(match[1].split('.')[0])
  if (first === 0 || first === 127 || first >= 224 || (first === 169 && match[1].startsWith('169.254.'))) {
    throw new UserError(`invalid TCP address range "${cidr}": loopback, link-local, multicast and reserved addresses cannot be service addresses`)
  }
  return {base, cidr, size}
}

export function inRange(range: AddressRange, address: string): boolean {
  if (!isIPv4(address)) return false
  const value = toNumber(address)
  return value >= range.base && value < range.base + range.size
}

/**
 * highway's own address in the range (its first usable one): the forwarder always serves HTTP there,
 * so `up`, `status` and `doctor` can check the whole path (route, forwarder, proxy) without a service.
 */
export function probeAddress(range: AddressRange): string {
  return toAddress(range.base + 1)
}

/**
 * Gives every name an address of the range, keeping the one it had: a client that resolved a name
 * a moment ago still reaches it. New names take the lowest free address; a name gone frees its own.
 * Names beyond the range's capacity get none (they are reached by HTTP on the bridge address only).
 */
export function allocate(range: AddressRange, names: Iterable<string>, previous: ReadonlyMap<string, string>): Map<string, string> {
  const wanted = [...new Set(names)].sort()
  const result = new Map<string, string>()
  const taken = new Set<number>([range.base, range.base + 1, range.base + range.size - 1])
  for (const name of wanted) {
    const address = previous.get(name)
    if (address === undefined || !inRange(range, address) || taken.has(toNumber(address))) continue
    result.set(name, address)
    taken.add(toNumber(address))
  }
  let next = range.base + 2
  for (const name of wanted) {
    if (result.has(name)) continue
    while (taken.has(next) && next < range.base + range.size - 1) next++
    if (next >= range.base + range.size - 1) break
    result.set(name, toAddress(next))
    taken.add(next)
  }
  return new Map([...result].sort(([a], [b]) => a.localeCompare(b)))
}
