/**
 * The `hosts:` line of /etc/nsswitch.conf: which services glibc asks, in order, and the traps in it
 * (nss-mdns answering before DNS, no DNS at all) that keep names from reaching highway's DNS.
 */
import type {Trap} from './types.js'

export function isLocalDomain(domain: string): boolean {
  return domain === 'local' || domain.endsWith('.local')
}

interface NssEntry {
  service: string
  action?: string
}

/** The services of a `hosts:` line with the [STATUS=action] that follows each. */
export function parseHostsLine(line: string): NssEntry[] {
  const entries: NssEntry[] = []
  for (const match of line.matchAll(/\[[^\]]*\]|[^\s[]+/g)) {
    const token = match[0]
    if (token.startsWith('[')) {
      const last = entries.at(-1)
      if (last) last.action = `${last.action ?? ''}${token}`
    } else {
      entries.push({service: token})
    }
  }
  return entries
}

/** The `hosts:` line of nsswitch.conf without its key and comments, or null. */
export function hostsLineOf(nsswitch: string | null): string | null {
  if (nsswitch === null) return null
  for (const line of nsswitch.split('\n')) {
    const match = /^\s*hosts\s*:(.*)$/.exec(line)
    if (match) return match[1].replace(/#.*/, '').trim()
  }
  return null
}

export function nssTraps(hostsLine: string, domain: string): Trap[] {
  const entries = parseHostsLine(hostsLine)
  const dnsIndex = entries.findIndex((entry) => entry.service === 'dns' || entry.service === 'resolve')
  if (dnsIndex < 0) {
    return [
      {
        kind: 'nss-no-dns',
        blocking: true,
        handled: false,
        message: `the hosts: line of /etc/nsswitch.conf ("${hostsLine}") never asks DNS, so no name reaches highway's DNS`,
        fix: 'add `dns` to the hosts: line of /etc/nsswitch.conf (after `files`)',
      },
    ]
  }
  const mdnsIndex = entries.findIndex((entry) => /^mdns[46]?(_minimal)?$/.test(entry.service))
  if (mdnsIndex < 0 || mdnsIndex > dnsIndex) return []
  const mdns = entries[mdnsIndex]
  const minimal = mdns.service.endsWith('_minimal')
  // mdns*_minimal only answers .local (and link-local reverse) names; plain mdns answers everything.
  if (minimal && !isLocalDomain(domain)) return []
  const stops = /NOTFOUND\s*=\s*return/i.test(mdns.action ?? '')
  const shown = `${mdns.service}${mdns.action ? ` ${mdns.action}` : ''}`
  const names = minimal ? '.local names' : 'names'
  if (stops) {
    return [
      {
        kind: 'nss-mdns',
        blocking: true,
        handled: false,
        message: `nss-mdns answers ${names} before DNS and stops there ("${shown}" comes before "${entries[dnsIndex].service}" in the hosts: line of /etc/nsswitch.conf): names under .${domain} never reach highway's DNS`,
        fix: `use another domain (\`highway up --domain test\`, then \`sudo highway dns-setup --undo\` and \`sudo highway dns-setup\`), or move \`${entries[dnsIndex].service}\` before \`${mdns.service}\` in the hosts: line of /etc/nsswitch.conf`,
      },
    ]
  }
  return [
    {
      kind: 'nss-mdns-slow',
      blocking: false,
      handled: false,
      message: `nss-mdns ("${shown}") is asked before DNS: names under .${domain} first wait for multicast DNS to give up (up to 5 s)`,
      fix: `move \`${entries[dnsIndex].service}\` before \`${mdns.service}\` in /etc/nsswitch.conf, or use another domain (\`highway up --domain test\`)`,
    },
  ]
}
