/**
 * Why a name under the highway domain might still not reach highway's DNS after the change: the
 * `.local` traps (nss-mdns, systemd-resolved's and macOS's multicast DNS), a hosts: line without
 * DNS, resolv.conf bypassing resolved, Docker Desktop's unreachable bridge. Pure: from a Detection.
 */
import type {Detection, Trap} from './types.js'

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

function nssTraps(hostsLine: string, domain: string): Trap[] {
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

export function findTraps(detection: Detection, domain: string, dnsIp: string): Trap[] {
  const traps: Trap[] = []
  const local = isLocalDomain(domain)
  if (detection.platform === 'linux') {
    if (detection.nsswitchHosts !== null) traps.push(...nssTraps(detection.nsswitchHosts, domain))
    if (local && detection.mechanism === 'systemd-resolved') {
      traps.push({
        kind: 'resolved-mdns',
        blocking: false,
        handled: true,
        message: `systemd-resolved sends .local names to multicast DNS, not to DNS servers, unless .local is a routing domain: the routing domain ~${domain} on highway's link makes them go to highway's DNS`,
      })
    }
    if (detection.mechanism === 'systemd-resolved-direct') {
      const entries = parseHostsLine(detection.nsswitchHosts ?? '')
      const resolve = entries.findIndex((entry) => entry.service === 'resolve')
      const dns = entries.findIndex((entry) => entry.service === 'dns')
      if (resolve < 0 || (dns >= 0 && dns < resolve)) {
        traps.push({
          kind: 'resolved-direct',
          blocking: false,
          handled: false,
          message:
            "/etc/resolv.conf lists systemd-resolved's upstream servers directly, so programs ask those servers in order instead of resolved's split DNS: names under the domain resolve only while highway's server comes first",
          fix: 'link /etc/resolv.conf to the stub (`sudo ln -sf ../run/systemd/resolve/stub-resolv.conf /etc/resolv.conf`), or put `resolve [!UNAVAIL=return]` before `dns` in the hosts: line of /etc/nsswitch.conf',
        })
      }
    }
  }
  if (detection.platform === 'darwin') {
    if (local) {
      traps.push({
        kind: 'macos-mdns',
        blocking: false,
        handled: false,
        message: 'macOS sends .local names to multicast DNS (Bonjour) first: lookups may wait about 5 s before /etc/resolver/local is asked',
        fix: 'use another domain (`highway up --domain test`) for instant lookups',
      })
    }
    if (!dnsIp.startsWith('127.')) {
      traps.push({
        kind: 'docker-desktop',
        blocking: false,
        handled: false,
        message: `with Docker Desktop the bridge address ${dnsIp} is inside Docker's VM and cannot be reached from macOS`,
        fix: "publish highway's DNS on 127.0.0.1 and pass `--dns-ip 127.0.0.1`",
      })
    }
  }
  if (detection.platform === 'win32' && local) {
    traps.push({
      kind: 'windows-mdns',
      blocking: false,
      handled: true,
      message: "Windows also asks multicast DNS for .local names; the NRPT rule sends them to highway's DNS as well",
    })
  }
  return traps
}
