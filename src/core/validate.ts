import {isIPv4} from 'node:net'
import {UserError} from './errors.js'

/**
 * Everything that reaches a HAProxy or dnsmasq config passes through here first: a name is only
 * ever lowercase letters, digits and inner hyphens, so no config syntax can be smuggled in.
 */
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/

export function isDnsLabel(value: string): boolean {
  return LABEL.test(value)
}

export function assertServiceName(name: string): string {
  if (!isDnsLabel(name)) {
    throw new UserError(
      `invalid service name "${name}": use a DNS label (lowercase letters, digits and hyphens, at most 63, not starting or ending with a hyphen)`,
    )
  }
  return name
}

export function isDomain(value: string): boolean {
  if (value.length === 0 || value.length > 200) return false
  return value.split('.').every((label) => isDnsLabel(label))
}

export function assertDomain(domain: string): string {
  const normalised = domain.replace(/^\.+|\.+$/g, '')
  if (!isDomain(normalised)) {
    throw new UserError(`invalid domain "${domain}": use DNS labels separated by dots, lowercase letters, digits and hyphens (for example "local" or "test")`)
  }
  return normalised
}

export function assertIPv4(value: string, what: string): string {
  if (!isIPv4(value)) throw new UserError(`invalid ${what} "${value}": expected an IPv4 address such as 172.17.0.1`)
  if (value === '0.0.0.0') {
    throw new UserError(`${what} cannot be 0.0.0.0: highway never listens on every interface; give the docker bridge address`)
  }
  return value
}

export function isPort(value: number): boolean {
  return Number.isInteger(value) && value >= 1 && value <= 65_535
}
