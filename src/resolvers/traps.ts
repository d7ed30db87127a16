/**
 * Why a name under the highway domain might still not reach highway's DNS after the change: the
 * `.local` traps (nss-mdns, systemd-resolved's and macOS's multicast DNS), a hosts: line without
 * DNS, resolv.conf bypassing resolved, Docker Desktop's unreachable bridge. Pure: from a Detection.
 */
import {mechanism} from './mechanisms/index.js'
import {nssTraps} from './nsswitch.js'
import type {Detection, Trap} from './types.js'

export function findTraps(detection: Detection, domain: string, dnsIp: string): Trap[] {
  const traps: Trap[] = []
  if (detection.platform === 'linux' && detection.nsswitchHosts !== null) traps.push(...nssTraps(detection.nsswitchHosts, domain))
  traps.push(...(mechanism(detection.mechanism).traps?.(detection, domain, dnsIp) ?? []))
  return traps
}
