/**
 * The mechanism table: every way of resolving names dns-setup knows. Linux mechanisms are detected
 * in this order (the first detector that answers wins, `plain` answers always); macOS and Windows
 * have one each.
 */
import type {MechanismDef} from '../mechanism.js'
import type {Mechanism, Platform} from '../types.js'
import {macosResolver} from './macos-resolver.js'
import {networkManagerDnsmasq} from './networkmanager-dnsmasq.js'
import {plain} from './plain.js'
import {openresolv, resolvconf} from './resolvconf.js'
import {systemdResolved, systemdResolvedDirect} from './systemd-resolved.js'
import {unsupported} from './unsupported.js'
import {windowsNrpt} from './windows-nrpt.js'
import {wsl} from './wsl.js'

export const MECHANISMS: readonly MechanismDef[] = [
  wsl,
  networkManagerDnsmasq,
  systemdResolved,
  systemdResolvedDirect,
  resolvconf,
  openresolv,
  unsupported,
  plain,
  macosResolver,
  windowsNrpt,
]

/** The mechanisms of one platform, in table order. */
export function mechanismsOf<P extends Platform>(platform: P): (MechanismDef & {platform: P})[] {
  return MECHANISMS.filter((candidate): candidate is MechanismDef & {platform: P} => candidate.platform === platform)
}

export function mechanism(name: Mechanism): MechanismDef {
  const found = MECHANISMS.find((candidate) => candidate.name === name)
  if (!found) throw new Error(`no mechanism named ${name}`)
  return found
}
