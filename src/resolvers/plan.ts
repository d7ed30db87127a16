/**
 * What dns-setup would change, per mechanism: pure, from the detection, the domain, the DNS address
 * and what is in place now. An empty plan means everything is already as it should be.
 *
 * The choice per mechanism: split DNS where the OS has it (resolved's per-link routing domain,
 * NetworkManager's dnsmasq, macOS /etc/resolver, Windows NRPT), a record highway owns where the
 * mechanism has them (resolvconf), and only where nothing else exists one marked line in a shared
 * resolv.conf.
 */
import {UserError} from '../core/errors.js'
import {
  CLEAR_DNS_CACHE,
  NM_RELOAD_DNS,
  RESOLVCONF_INTERFACE,
  NRPT_COMMENT,
  nrptAdd,
  nrptRemove,
  resolvconfAdd,
  resolvconfDelete,
  resolvectlDns,
  resolvectlDomain,
  resolvectlRevert,
} from './commands.js'
import type {LinkSettings, Observed} from './observe.js'
import {GLIBC_MAXNS, markedLine, parseNameservers, withHighwayLine} from './resolv-file.js'
import {findTraps} from './traps.js'
import type {CommandStep, Detection, FileChange, Plan} from './types.js'

export const NM_DNSMASQ_FILE = '/etc/NetworkManager/dnsmasq.d/highway.conf'

export function macosResolverFile(domain: string): string {
  return `/etc/resolver/${domain}`
}

export interface PlanInput {
  detection: Detection
  domain: string
  dnsIp: string
  observed: Observed
}

/** The files the plan for this detection reads and may write. */
export function planPaths(detection: Detection, domain: string): string[] {
  switch (detection.mechanism) {
    case 'plain':
    case 'wsl':
      return [detection.resolvConf!.target]
    case 'networkmanager-dnsmasq':
      return [NM_DNSMASQ_FILE]
    case 'macos-resolver':
      return [macosResolverFile(domain)]
    default:
      return []
  }
}

function ownedFileContent(domain: string, line: string): string {
  return `# Added by highway dns-setup: names under .${domain} go to highway's DNS. \`highway dns-setup --undo\` removes this file.\n${line}\n`
}

export function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((value, index) => value === b[index])
}

function fileChange(path: string, before: string | null, after: string, createDirs: string[], reason: string): FileChange[] {
  if (before === after) return []
  return [{path, action: before === null ? 'create' : 'edit', before, after, createDirs: before === null ? createDirs : [], reason}]
}

/** Undo of resolved's per-link settings: back to `prior`, keeping whatever someone else added since. */
export function restoreLinkSteps(link: string, target: LinkSettings): CommandStep[] {
  if (target.dns.length === 0 && target.domains.length === 0) return [resolvectlRevert(link)]
  return [resolvectlDns(link, target.dns), resolvectlDomain(link, target.domains)]
}

function emptyPlan(input: PlanInput): Plan {
  return {
    mechanism: input.detection.mechanism,
    description: input.detection.description,
    domain: input.domain,
    dnsIp: input.dnsIp,
    files: [],
    commands: [],
    removeDirs: [],
    undo: [],
    runtime: [],
    runtimeOnly: false,
    notes: [],
    traps: findTraps(input.detection, input.domain, input.dnsIp),
  }
}

export function buildPlan(input: PlanInput): Plan {
  const {detection, domain, dnsIp, observed} = input
  const plan = emptyPlan(input)
  const everyLookup = `glibc has no per-domain routing: every lookup now asks highway's DNS at ${dnsIp} first; it answers *.${domain} and must forward every other name upstream (while highway is down, lookups move on to the next nameserver)`

  switch (detection.mechanism) {
    case 'plain':
    case 'wsl': {
      const target = detection.resolvConf!.target
      const before = observed.files[target]?.content ?? detection.resolvConf!.content ?? ''
      const after = withHighwayLine(before, dnsIp)
      plan.files = fileChange(target, before, after, [], `add \`${markedLine(dnsIp)}\` before the first nameserver`)
      plan.notes.push(everyLookup)
      const servers = parseNameservers(after)
      if (servers.length > GLIBC_MAXNS) {
        plan.notes.push(`glibc reads only the first ${GLIBC_MAXNS} nameservers: ${servers.slice(GLIBC_MAXNS).join(', ')} will no longer be asked`)
      }
      plan.runtimeOnly = detection.mechanism === 'wsl'
      return plan
    }

    case 'systemd-resolved':
    case 'systemd-resolved-direct': {
      const link = observed.link ?? 'docker0'
      const current = observed.linkSettings
      if (current === null || current === undefined) {
        throw new UserError(`network link ${link} does not exist, so systemd-resolved cannot send .${domain} to ${dnsIp} through it`, {
          suggestion: 'start Docker and run `highway up` first (or pass --dns-ip with an address of an existing link)',
        })
      }
      const routing = `~${domain}`
      const prior = {dns: current.dns.filter((server) => server !== dnsIp), domains: current.domains.filter((name) => name !== routing)}
      if (!sameList(current.dns, [dnsIp])) plan.commands.push({...resolvectlDns(link, [dnsIp]), reason: `send DNS for link ${link} to highway's DNS`})
      if (!sameList(current.domains, [routing])) {
        plan.commands.push({...resolvectlDomain(link, [routing]), reason: `route only .${domain} to link ${link} (a routing domain, not a search domain)`})
      }
      plan.undo = restoreLinkSteps(link, prior)
      plan.runtime = [{kind: 'resolved-link', link, dns: [dnsIp], domains: [routing], prior}]
      plan.runtimeOnly = true
      if (observed.linkFound === false) plan.notes.push(`no network link holds ${dnsIp} right now; assuming ${link}`)
      plan.notes.push(
        `split DNS: only names under .${domain} go to ${dnsIp} (link ${link}); everything else resolves as before`,
        `systemd-resolved keeps per-link settings only until ${link} is recreated or the machine restarts: \`highway up\` puts them back`,
      )
      return plan
    }

    case 'resolvconf':
    case 'openresolv': {
      const record = `nameserver ${dnsIp}\n`
      if (observed.resolvconfRecord !== record) plan.commands.push(resolvconfAdd(record))
      plan.undo = [resolvconfDelete()]
      plan.runtime = [{kind: 'resolvconf', interface: RESOLVCONF_INTERFACE, record}]
      plan.runtimeOnly = true
      plan.notes.push(
        `resolv.conf has no per-domain routing and resolvconf lists lo.* records first: every lookup now asks highway's DNS at ${dnsIp} first; ` +
          `it answers *.${domain} and must forward every other name upstream`,
        `the record lives under /run and is gone after a restart: \`highway up\` puts it back`,
      )
      return plan
    }

    case 'networkmanager-dnsmasq': {
      const observedFile = observed.files[NM_DNSMASQ_FILE]
      const content = ownedFileContent(domain, `server=/${domain}/${dnsIp}`)
      plan.files = fileChange(
        NM_DNSMASQ_FILE,
        observedFile?.content ?? null,
        content,
        observedFile?.missingDirs ?? [],
        `tell NetworkManager's dnsmasq to send .${domain} to ${dnsIp}`,
      )
      if (plan.files.length > 0) plan.commands.push(NM_RELOAD_DNS)
      plan.undo = [NM_RELOAD_DNS]
      plan.notes.push(`split DNS: only names under .${domain} go to ${dnsIp}; NetworkManager's dnsmasq answers everything else as before`)
      return plan
    }

    case 'macos-resolver': {
      const path = macosResolverFile(domain)
      const observedFile = observed.files[path]
      plan.files = fileChange(
        path,
        observedFile?.content ?? null,
        ownedFileContent(domain, `nameserver ${dnsIp}`),
        observedFile?.missingDirs ?? [],
        `send .${domain} to ${dnsIp}`,
      )
      plan.notes.push(
        `split DNS: only names under .${domain} go to ${dnsIp}; check with \`scutil --dns\``,
        'a name looked up before may still be cached as missing: `sudo dscacheutil -flushcache; sudo killall -HUP mDNSResponder`',
      )
      return plan
    }

    case 'windows-nrpt': {
      const namespace = `.${domain}`
      const rules = observed.nrptRules ?? []
      const mine = rules.filter((rule) => rule.namespace === namespace)
      const inPlace = mine.length === 1 && sameList(mine[0].nameServers, [dnsIp])
      if (!inPlace) {
        if (mine.length > 0) plan.commands.push(nrptRemove(namespace))
        plan.commands.push(nrptAdd(namespace, [dnsIp]), CLEAR_DNS_CACHE)
      }
      plan.undo = [nrptRemove(namespace), CLEAR_DNS_CACHE]
      plan.runtime = [{kind: 'nrpt', namespace, nameServers: [dnsIp], comment: NRPT_COMMENT}]
      plan.notes.push(`split DNS: only names under .${domain} go to ${dnsIp} (NRPT has no port: highway's DNS must answer on ${dnsIp}:53)`)
      return plan
    }

    case 'unsupported':
      throw unsupported(detection, domain, dnsIp)
  }
}

function unsupported(detection: Detection, domain: string, dnsIp: string): UserError {
  if (detection.unsupported === 'wsl-shared') {
    return new UserError(`found ${detection.description}: highway does not edit a file WSL owns`, {
      suggestion:
        'to manage it yourself: put "[network]" and "generateResolvConf = false" in /etc/wsl.conf, run `wsl --shutdown` from Windows, ' +
        'replace the /etc/resolv.conf symlink with a regular file listing your DNS servers, then rerun `sudo highway dns-setup`',
    })
  }
  const dns = detection.networkManager?.dns ?? 'default'
  return new UserError(`found ${detection.description}: highway does not switch NetworkManager's DNS mode for you`, {
    suggestion:
      `either set dns=systemd-resolved (or dns=dnsmasq) in the [main] section of /etc/NetworkManager/NetworkManager.conf, restart NetworkManager ` +
      `and rerun \`sudo highway dns-setup\`; or make ${dnsIp} the first DNS server of your connection by hand ` +
      `(\`nmcli connection modify <connection> ipv4.dns ${dnsIp} ipv4.dns-priority -1\`; then every lookup, not only .${domain}, goes to highway's DNS)` +
      (dns === 'default' ? '' : ` (current mode: dns=${dns})`),
  })
}
