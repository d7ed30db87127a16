/**
 * What dns-setup would change: pure, from the detection, the domain, the DNS address and what is in
 * place now. The mechanism decides the change (mechanisms/); this adds what every plan carries. An
 * empty plan means everything is already as it should be.
 *
 * The choice per mechanism: split DNS where the OS has it (resolved's per-link routing domain,
 * NetworkManager's dnsmasq, macOS /etc/resolver, Windows NRPT), a record highway owns where the
 * mechanism has them (resolvconf), and only where nothing else exists one marked line in a shared
 * resolv.conf.
 */
import type {PlanInput} from './mechanism.js'
import {mechanism} from './mechanisms/index.js'
import {findTraps} from './traps.js'
import type {Detection, Plan} from './types.js'

/** The files the plan for this detection reads and may write. */
export function planPaths(detection: Detection, domain: string): string[] {
  return mechanism(detection.mechanism).paths?.(detection, domain) ?? []
}

export function buildPlan(input: PlanInput): Plan {
  const {detection, domain, dnsIp} = input
  const common: Plan = {
    mechanism: detection.mechanism,
    description: detection.description,
    domain,
    dnsIp,
    files: [],
    commands: [],
    removeDirs: [],
    undo: [],
    runtime: [],
    runtimeOnly: false,
    notes: [],
    traps: findTraps(detection, domain, dnsIp),
  }
  return {...common, ...mechanism(detection.mechanism).plan(input)}
}
