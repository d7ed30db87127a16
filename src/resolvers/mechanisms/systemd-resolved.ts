/**
 * systemd-resolved: split DNS on one link (`resolvectl dns|domain docker0 ...`), a routing domain
 * `~<domain>` so only names under it go to highway's DNS. Runtime state: lost when the link is
 * recreated or the machine restarts, put back by `highway up`. With resolv.conf listing resolved's
 * upstream servers directly (no stub), the same change applies, with a trap explaining the bypass.
 */
import {isDeepStrictEqual} from 'node:util'
import {UserError} from '../../core/errors.js'
import {IP_ADDRESSES, RESOLVED_RESTART, ipRouteGet, resolvectlDns, resolvectlDomain, resolvectlQuery, resolvectlRevert, resolvectlShow} from '../commands.js'
import type {Detected, LinuxFacts, MechanismDef, PlanInput, PlanParts} from '../mechanism.js'
import {isLocalDomain, parseHostsLine} from '../nsswitch.js'
import type {LinkSettings, Observed} from '../observe.js'
import {RESOLV_CONF, arrow} from '../resolv-file.js'
import {formatCommand} from '../runner.js'
import type {DnsSetupState} from '../state.js'
import type {CommandStep, Detection, FileChange, Mechanism, Plan, ResolverContext, Runtime, Trap} from '../types.js'
import {fileChange, isString, isStringArray, ownedFileContent} from './shared.js'

const STUB_TARGETS = ['/run/systemd/resolve/stub-resolv.conf', '/usr/lib/systemd/resolv.conf', '/lib/systemd/resolv.conf']
const DIRECT_TARGET = '/run/systemd/resolve/resolv.conf'
/** resolved's global settings, for when the link toward highway's DNS is not highway's alone. */
export const RESOLVED_DROP_IN = '/etc/systemd/resolved.conf.d/highway.conf'

/** The link of `ip -o -4 route get`'s answer, none for a route through loopback. */
export function parseRouteDev(stdout: string): string | undefined {
  const dev = /\bdev\s+(\S+)/.exec(stdout)?.[1]
  return dev === 'lo' ? undefined : dev
}

/**
 * The link resolved must send .<domain> through: the one holding `ip` (docker0 on the host that runs
 * highway), else the one the kernel routes `ip` through (a machine that reaches the bridge over its
 * own eth0: a VM, a container). docker0 when neither says.
 */
export async function findLink(ctx: ResolverContext, ip: string): Promise<{link: string; found: boolean; routed?: boolean}> {
  const result = await ctx.runner.run(IP_ADDRESSES.cmd, IP_ADDRESSES.args)
  if (result.code === 0) {
    for (const line of result.stdout.split('\n')) {
      const match = /^\d+:\s+(\S+?)(?:@\S+)?\s+inet\s+([\d.]+)\//.exec(line)
      if (match && match[2] === ip) return {link: match[1], found: true}
    }
  }
  const step = ipRouteGet(ip)
  const route = await ctx.runner.run(step.cmd, step.args)
  const dev = route.code === 0 ? parseRouteDev(route.stdout) : undefined
  return dev ? {link: dev, found: true, routed: true} : {link: 'docker0', found: false}
}

/** "Link 5 (docker0): 172.17.0.1 10.0.0.1" -> ["172.17.0.1", "10.0.0.1"] */
export function parseLinkValues(stdout: string): string[] {
  const line = stdout.split('\n').find((candidate) => candidate.includes('):')) ?? ''
  const values = line.slice(line.indexOf('):') + 2).trim()
  return values === '' ? [] : values.split(/\s+/)
}

async function linkSettings(ctx: ResolverContext, link: string): Promise<LinkSettings | null> {
  const values: string[][] = []
  for (const step of [resolvectlShow('dns', link), resolvectlShow('domain', link)]) {
    const result = await ctx.runner.run(step.cmd, step.args)
    if (result.code !== 0) {
      if (/resolve interface|no such device|unknown interface|not found/i.test(result.stderr)) return null
      throw new UserError(`\`${formatCommand(step.cmd, step.args)}\` failed (exit ${result.code}): ${result.stderr.trim() || 'no message'}`, {
        suggestion: 'is systemd-resolved running? (`systemctl status systemd-resolved`)',
      })
    }
    values.push(parseLinkValues(result.stdout))
  }
  return {dns: values[0], domains: values[1]}
}

/** Undo of resolved's per-link settings: back to `target`, or reverted when nothing is left. */
function restoreLinkSteps(link: string, target: LinkSettings): CommandStep[] {
  if (target.dns.length === 0 && target.domains.length === 0) return [resolvectlRevert(link)]
  return [resolvectlDns(link, target.dns), resolvectlDomain(link, target.domains)]
}

function without(values: string[], remove: string[]): string[] {
  return values.filter((value) => !remove.includes(value))
}

type LinkRuntime = Extract<Runtime, {kind: 'resolved-link'}>

/**
 * The link already has DNS servers of its own (the uplink of a VM or container that reaches the
 * bridge through it, set by NetworkManager or DHCP): resolved asks one server per link, so adding
 * highway's there would send its names to the wrong server, and replacing them would cut the link's
 * own lookups (and its manager puts them back on the next re-apply, dropping highway's). resolved's
 * global settings take a routing domain too and belong to no link manager: a drop-in of highway's own.
 */
function sharedLinkPlan({domain, dnsIp, observed}: PlanInput, link: string, others: string[]): PlanParts {
  const observedFile = observed.files[RESOLVED_DROP_IN]
  const files = fileChange(
    RESOLVED_DROP_IN,
    observedFile?.content ?? null,
    ownedFileContent(domain, `[Resolve]\nDNS=${dnsIp}\nDomains=~${domain}`),
    observedFile?.missingDirs ?? [],
    `send .${domain} to ${dnsIp} through resolved's global settings (a routing domain)`,
  )
  return {
    files,
    commands: files.length > 0 ? [RESOLVED_RESTART] : [],
    undo: [RESOLVED_RESTART],
    notes: [
      `link ${link}, through which ${dnsIp} is reached, ${others.length > 0 ? `already has DNS servers of its own (${others.join(', ')})` : "is not highway's own"}: ` +
        `highway's setting goes to resolved's global settings instead, so no link manager (NetworkManager, networkd, DHCP) overwrites it`,
      `only names under .${domain} are routed to ${dnsIp}; other names may be asked there too (resolved asks its global servers alongside the links'), and highway's DNS forwards them upstream`,
    ],
  }
}

function plan(input: PlanInput): PlanParts {
  const {domain, dnsIp, observed} = input
  const link = observed.link ?? 'docker0'
  const current = observed.linkSettings
  if (current === null || current === undefined) {
    throw new UserError(`network link ${link} does not exist, so systemd-resolved cannot send .${domain} to ${dnsIp} through it`, {
      suggestion: 'start Docker and run `highway up` first (or pass --dns-ip with an address of an existing link)',
    })
  }
  const others = current.dns.filter((server) => server !== dnsIp)
  // A link holding the address is the bridge itself, highway's own: its settings are replaced (and put back by undo).
  if ((observed.linkRouted && others.length > 0) || observed.files[RESOLVED_DROP_IN]?.content) return sharedLinkPlan(input, link, others)
  const routing = `~${domain}`
  const prior = {dns: current.dns.filter((server) => server !== dnsIp), domains: current.domains.filter((name) => name !== routing)}
  const commands: CommandStep[] = []
  if (!isDeepStrictEqual(current.dns, [dnsIp])) commands.push({...resolvectlDns(link, [dnsIp]), reason: `send DNS for link ${link} to highway's DNS`})
  if (!isDeepStrictEqual(current.domains, [routing])) {
    commands.push({...resolvectlDomain(link, [routing]), reason: `route only .${domain} to link ${link} (a routing domain, not a search domain)`})
  }
  const notes = observed.linkFound === false ? [`no network link holds ${dnsIp} right now; assuming ${link}`] : []
  notes.push(
    `split DNS: only names under .${domain} go to ${dnsIp} (link ${link}); everything else resolves as before`,
    `systemd-resolved keeps per-link settings only until ${link} is recreated or the machine restarts: \`highway up\` puts them back`,
  )
  return {
    commands,
    undo: restoreLinkSteps(link, prior),
    runtime: [{kind: 'resolved-link', link, dns: [dnsIp], domains: [routing], prior}],
    runtimeOnly: true,
    notes,
  }
}

async function observe(ctx: ResolverContext, _rootFs: unknown, _detection: Detection, dnsIp: string): Promise<Partial<Observed>> {
  const {link, found, routed} = await findLink(ctx, dnsIp)
  return {link, linkFound: found, linkRouted: routed ?? false, linkSettings: await linkSettings(ctx, link)}
}

async function observeUndo(ctx: ResolverContext, _rootFs: unknown, state: DnsSetupState): Promise<Partial<Observed>> {
  const observed: Partial<Observed> = {}
  for (const runtime of state.runtime) {
    if (runtime.kind !== 'resolved-link') continue
    observed.link = runtime.link
    observed.linkSettings = await linkSettings(ctx, runtime.link)
  }
  return observed
}

function undo(state: DnsSetupState, observed: Observed, files: FileChange[]): {commands: CommandStep[]; notes: string[]} {
  // The drop-in is undone with the recorded files; resolved reads its configuration again after.
  const commands: CommandStep[] = files.some((change) => change.path === RESOLVED_DROP_IN) ? [RESOLVED_RESTART] : []
  const notes: string[] = []
  for (const runtime of state.runtime.filter((entry): entry is LinkRuntime => entry.kind === 'resolved-link')) {
    const current = observed.linkSettings
    if (!current) {
      notes.push(`link ${runtime.link} no longer exists: its DNS settings went with it`)
      continue
    }
    const oursPresent = current.dns.some((server) => runtime.dns.includes(server)) || current.domains.some((name) => runtime.domains.includes(name))
    if (!oursPresent) {
      notes.push(`link ${runtime.link} no longer has highway's DNS settings`)
      continue
    }
    // Untouched since dns-setup: back to exactly what was there. Changed since: drop only ours.
    const untouched = isDeepStrictEqual(current.dns, runtime.dns) && isDeepStrictEqual(current.domains, runtime.domains)
    const target = untouched ? runtime.prior : {dns: without(current.dns, runtime.dns), domains: without(current.domains, runtime.domains)}
    if (!untouched) notes.push(`link ${runtime.link} was changed since dns-setup: removed only highway's server and routing domain`)
    commands.push(...restoreLinkSteps(runtime.link, target))
  }
  return {commands, notes}
}

function validRuntime(r: Record<string, unknown>): boolean {
  const prior = r.prior as Record<string, unknown> | undefined
  return (
    r.kind === 'resolved-link' &&
    isString(r.link) &&
    isStringArray(r.dns) &&
    isStringArray(r.domains) &&
    Boolean(prior) &&
    isStringArray(prior?.dns) &&
    isStringArray(prior?.domains)
  )
}

async function hops(ctx: ResolverContext, plan: Plan, probe: string) {
  const step = resolvectlQuery(probe)
  const result = await ctx.runner.run(step.cmd, step.args)
  const link = plan.runtime.find((runtime) => runtime.kind === 'resolved-link')
  const where = link?.kind === 'resolved-link' ? link.link : 'docker0'
  return [
    result.code === 0 && result.stdout.includes(plan.dnsIp)
      ? {hop: 'systemd-resolved', ok: true, detail: `resolvectl query ${probe} answers ${plan.dnsIp}`}
      : {
          hop: 'systemd-resolved',
          ok: false,
          detail: `systemd-resolved does not send ${probe} to ${plan.dnsIp} (${(result.stderr || result.stdout).trim().split('\n')[0] || `exit ${result.code}`}); check \`resolvectl status ${where}\``,
        },
  ]
}

function viaNm({networkManager}: LinuxFacts): string {
  return networkManager?.dns === 'systemd-resolved' ? `, configured by NetworkManager (dns=systemd-resolved)` : ''
}

/** The split-DNS change, shared by both ways resolv.conf can lead to resolved. */
function resolved(name: Mechanism, detect: (facts: LinuxFacts) => Promise<Detected | null>, traps: MechanismDef['traps']): MechanismDef {
  const dropIn = () => [RESOLVED_DROP_IN]
  return {name, platform: 'linux', detect, paths: dropIn, writes: dropIn, observe, plan, traps, hops, observeUndo, undo, validRuntime}
}

export const systemdResolved = resolved(
  'systemd-resolved',
  async (facts) => {
    const {resolvConf, header, rootFs} = facts
    const stub =
      STUB_TARGETS.includes(resolvConf.target) ||
      /stub-resolv\.conf managed by man:systemd-resolved/.test(header) ||
      (resolvConf.nameservers.length > 0 && resolvConf.nameservers.every((server) => server === '127.0.0.53' || server === '127.0.0.54'))
    if (!stub) return null
    if (!(await rootFs.isDir('/run/systemd/resolve'))) {
      throw new UserError(
        `${RESOLV_CONF} sends lookups to systemd-resolved's stub (127.0.0.53), but systemd-resolved is not running (no /run/systemd/resolve)`,
        {suggestion: 'start it (`sudo systemctl enable --now systemd-resolved`), then rerun'},
      )
    }
    return {description: `systemd-resolved with its stub listener 127.0.0.53${viaNm(facts)} (${arrow(resolvConf)})`}
  },
  (_detection, domain): Trap[] =>
    isLocalDomain(domain)
      ? [
          {
            kind: 'resolved-mdns',
            blocking: false,
            handled: true,
            message: `systemd-resolved sends .local names to multicast DNS, not to DNS servers, unless .local is a routing domain: the routing domain ~${domain} highway sets makes them go to highway's DNS`,
          },
        ]
      : [],
)

export const systemdResolvedDirect = resolved(
  'systemd-resolved-direct',
  async (facts) => {
    const {resolvConf, header} = facts
    if (!(resolvConf.target === DIRECT_TARGET || /\/run\/systemd\/resolve\/resolv\.conf managed by/.test(header))) return null
    return {description: `systemd-resolved without its stub: ${arrow(resolvConf)} lists the upstream servers directly${viaNm(facts)}`}
  },
  (detection): Trap[] => {
    const entries = parseHostsLine(detection.nsswitchHosts ?? '')
    const resolve = entries.findIndex((entry) => entry.service === 'resolve')
    const dns = entries.findIndex((entry) => entry.service === 'dns')
    if (resolve >= 0 && !(dns >= 0 && dns < resolve)) return []
    return [
      {
        kind: 'resolved-direct',
        blocking: false,
        handled: false,
        message:
          "/etc/resolv.conf lists systemd-resolved's upstream servers directly, so programs ask those servers in order instead of resolved's split DNS: names under the domain resolve only while highway's server comes first",
        fix: 'link /etc/resolv.conf to the stub (`sudo ln -sf ../run/systemd/resolve/stub-resolv.conf /etc/resolv.conf`), or put `resolve [!UNAVAIL=return]` before `dns` in the hosts: line of /etc/nsswitch.conf',
      },
    ]
  },
)
