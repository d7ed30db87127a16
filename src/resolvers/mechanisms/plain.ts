/**
 * A plain /etc/resolv.conf that no tool manages: one marked nameserver line before the others. The
 * fallback of Linux detection (its detector always answers), so it comes last in the table.
 */
import type {Detected, LinuxFacts, MechanismDef, PlanInput, PlanParts} from '../mechanism.js'
import {GLIBC_MAXNS, RESOLV_CONF, arrow, describeNameservers, markedLine, parseNameservers, withHighwayLine} from '../resolv-file.js'
import {fileChange, firstNameserverHop} from './shared.js'

const DHCP_CLIENTS: [string, string][] = [
  ['/sbin/dhclient', 'dhclient'],
  ['/usr/sbin/dhclient', 'dhclient'],
  ['/sbin/dhcpcd', 'dhcpcd'],
  ['/usr/sbin/dhcpcd', 'dhcpcd'],
  ['/usr/sbin/udhcpc', 'udhcpc'],
]

/** highway's marked line first in the file /etc/resolv.conf leads to (plain and WSL). */
export function planMarkedLine({detection, dnsIp, domain, observed}: PlanInput): PlanParts {
  const target = detection.resolvConf!.target
  const before = observed.files[target]?.content ?? detection.resolvConf!.content ?? ''
  const after = withHighwayLine(before, dnsIp)
  const notes = [
    `glibc has no per-domain routing: every lookup now asks highway's DNS at ${dnsIp} first; it answers *.${domain} and must forward every other name upstream (while highway is down, lookups move on to the next nameserver)`,
  ]
  const servers = parseNameservers(after)
  if (servers.length > GLIBC_MAXNS) {
    notes.push(`glibc reads only the first ${GLIBC_MAXNS} nameservers: ${servers.slice(GLIBC_MAXNS).join(', ')} will no longer be asked`)
  }
  return {files: fileChange(target, before, after, [], `add \`${markedLine(dnsIp)}\` before the first nameserver`), notes}
}

async function detect({rootFs, resolvConf, wsl}: LinuxFacts): Promise<Detected> {
  const warnings: string[] = []
  for (const [path, name] of DHCP_CLIENTS) {
    if ((await rootFs.exists(path)) && !warnings.some((warning) => warning.startsWith(name))) {
      warnings.push(
        `${name} is installed: when it renews a lease it may rewrite /etc/resolv.conf and drop highway's line (\`highway up\` notices; rerun \`sudo highway dns-setup\`)`,
      )
    }
  }
  const where = resolvConf.links.length > 0 ? `${arrow(resolvConf)}, ` : ''
  const servers = describeNameservers(resolvConf.content ?? '')
  return {
    warnings,
    description: `plain ${RESOLV_CONF} that no tool manages (${where}nameserver ${servers.join(', ') || 'none'}${wsl.isWsl ? '; WSL with generateResolvConf = false' : ''})`,
  }
}

export const plain: MechanismDef = {
  name: 'plain',
  platform: 'linux',
  detect,
  paths: (detection) => [detection.resolvConf!.target],
  writes: (_domain, resolvConf) => [resolvConf.path, ...resolvConf.links],
  plan: (input) => ({...planMarkedLine(input), runtimeOnly: false}),
  hops: (ctx, plan) => firstNameserverHop(ctx, plan.dnsIp),
}
