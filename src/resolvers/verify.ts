/**
 * After the change: does a name under the domain resolve through the OS's own path (glibc and
 * nsswitch on Linux, the system resolver on macOS and Windows)? If not, walk the hops one by one
 * (highway's DNS itself, the mechanism in between, nsswitch) and name the first that fails.
 */
import {Resolver} from 'node:dns/promises'
import {SCUTIL_DNS, dscacheutilHost, getentHosts, resolveDnsName, resolvectlQuery} from './commands.js'
import {RESOLV_CONF} from './detect.js'
import {RootFs} from './root-fs.js'
import {nrptRules} from './observe.js'
import {NM_DNSMASQ_FILE} from './plan.js'
import {parseNameservers} from './resolv-file.js'
import {formatCommand} from './runner.js'
import type {Detection, Plan, ResolverContext} from './types.js'

export const PROBE_LABEL = 'highway-probe'

export interface Hop {
  hop: string
  ok: boolean
  detail: string
}

export interface VerifyResult {
  ok: boolean
  probe: string
  /** What the OS's resolver answered. */
  addresses: string[]
  /** The command that asked it. */
  via: string
  hops: Hop[]
  /** One line: success, or the first hop that failed. */
  summary: string
}

export async function defaultDnsQuery(server: string, name: string): Promise<string[]> {
  const resolver = new Resolver({timeout: 2000, tries: 1})
  resolver.setServers([server])
  return resolver.resolve4(name)
}

async function askServer(ctx: ResolverContext, server: string, name: string): Promise<{addresses: string[]; error?: string}> {
  try {
    return {addresses: await (ctx.dnsQuery ?? defaultDnsQuery)(server, name)}
  } catch (error) {
    return {addresses: [], error: (error as NodeJS.ErrnoException).code ?? (error as Error).message}
  }
}

function words(stdout: string): string[] {
  return stdout.split(/\s+/).filter(Boolean)
}

/** The OS's own lookup of `name`: the command and the IPv4 addresses it printed. */
async function systemLookup(ctx: ResolverContext, name: string): Promise<{via: string; addresses: string[]; code: number; stderr: string}> {
  const step = ctx.platform === 'darwin' ? dscacheutilHost(name) : ctx.platform === 'win32' ? resolveDnsName(name) : getentHosts(name)
  const result = await ctx.runner.run(step.cmd, step.args)
  let addresses: string[]
  if (ctx.platform === 'darwin') addresses = [...result.stdout.matchAll(/ip_address:\s*(\S+)/g)].map((match) => match[1])
  else if (ctx.platform === 'win32') addresses = words(result.stdout)
  else
    addresses = result.stdout
      .split('\n')
      .map((line) => line.split(/\s+/)[0])
      .filter(Boolean)
  const via = ctx.platform === 'win32' ? `Resolve-DnsName ${name}` : formatCommand(step.cmd, step.args)
  return {via, addresses, code: result.code, stderr: result.stderr}
}

export async function verifyResolution(ctx: ResolverContext, detection: Detection, plan: Plan): Promise<VerifyResult> {
  const {domain, dnsIp} = plan
  const probe = `${PROBE_LABEL}.${domain}`
  const lookup = await systemLookup(ctx, probe)
  if (lookup.code === 0 && lookup.addresses.includes(dnsIp)) {
    return {
      ok: true,
      probe,
      addresses: lookup.addresses,
      via: lookup.via,
      hops: [],
      summary: `${probe} -> ${dnsIp} through this machine's resolver (${lookup.via})`,
    }
  }

  const hops: Hop[] = []
  const direct = await askServer(ctx, dnsIp, probe)
  hops.push(
    direct.addresses.includes(dnsIp)
      ? {hop: "highway's DNS", ok: true, detail: `${dnsIp}:53 answers ${probe} with ${dnsIp}`}
      : {
          hop: "highway's DNS",
          ok: false,
          detail: `highway's DNS at ${dnsIp}:53 does not answer ${probe} (${direct.error ?? `got ${direct.addresses.join(', ') || 'no address'}`}): is highway up? (\`highway up\`)`,
        },
  )
  hops.push(...(await mechanismHops(ctx, detection, plan, probe)))
  for (const trap of plan.traps.filter((candidate) => candidate.blocking)) {
    hops.push({hop: 'nsswitch', ok: false, detail: `${trap.message}; ${trap.fix ?? ''}`.replace(/; $/, '')})
  }
  const failed = hops.find((hop) => !hop.ok)
  const answered = lookup.addresses.length > 0 ? `answered ${lookup.addresses.join(', ')}` : `found nothing (exit ${lookup.code})`
  const summary = failed
    ? `${probe} does not resolve through this machine's resolver: ${failed.detail}`
    : `${probe} does not resolve through this machine's resolver (\`${lookup.via}\` ${answered}) although every hop checked answers: a cache (nscd, systemd-resolved, mDNSResponder) may still hold an old answer`
  return {ok: false, probe, addresses: lookup.addresses, via: lookup.via, hops, summary}
}

async function mechanismHops(ctx: ResolverContext, detection: Detection, plan: Plan, probe: string): Promise<Hop[]> {
  const {dnsIp} = plan
  switch (detection.mechanism) {
    case 'systemd-resolved':
    case 'systemd-resolved-direct': {
      const step = resolvectlQuery(probe)
      const result = await ctx.runner.run(step.cmd, step.args)
      const link = plan.runtime.find((runtime) => runtime.kind === 'resolved-link')
      const where = link?.kind === 'resolved-link' ? link.link : 'docker0'
      return [
        result.code === 0 && result.stdout.includes(dnsIp)
          ? {hop: 'systemd-resolved', ok: true, detail: `resolvectl query ${probe} answers ${dnsIp}`}
          : {
              hop: 'systemd-resolved',
              ok: false,
              detail: `systemd-resolved does not send ${probe} to ${dnsIp} (${(result.stderr || result.stdout).trim().split('\n')[0] || `exit ${result.code}`}); check \`resolvectl status ${where}\``,
            },
      ]
    }
    case 'networkmanager-dnsmasq': {
      const rootFs = new RootFs(ctx.root, ctx.fs)
      const server = parseNameservers((await rootFs.read(RESOLV_CONF)) ?? '')[0]
      if (!server) return [{hop: "NetworkManager's dnsmasq", ok: false, detail: `${RESOLV_CONF} lists no nameserver`}]
      const answer = await askServer(ctx, server, probe)
      return [
        answer.addresses.includes(dnsIp)
          ? {hop: "NetworkManager's dnsmasq", ok: true, detail: `${server} answers ${probe} with ${dnsIp}`}
          : {
              hop: "NetworkManager's dnsmasq",
              ok: false,
              detail: `NetworkManager's dnsmasq at ${server} does not forward ${probe} to ${dnsIp} (${answer.error ?? 'wrong answer'}): check ${NM_DNSMASQ_FILE}, then \`sudo nmcli general reload dns-full\``,
            },
      ]
    }
    case 'plain':
    case 'wsl':
    case 'resolvconf':
    case 'openresolv': {
      const rootFs = new RootFs(ctx.root, ctx.fs)
      const first = parseNameservers((await rootFs.read(RESOLV_CONF)) ?? '')[0]
      return [
        first === dnsIp
          ? {hop: RESOLV_CONF, ok: true, detail: `${dnsIp} is its first nameserver`}
          : {
              hop: RESOLV_CONF,
              ok: false,
              detail: `${dnsIp} is not the first nameserver in ${RESOLV_CONF} (the first is ${first ?? 'none'}): something rewrote it; rerun \`sudo highway dns-setup\``,
            },
      ]
    }
    case 'macos-resolver': {
      const result = await ctx.runner.run(SCUTIL_DNS.cmd, SCUTIL_DNS.args)
      const listed = new RegExp(
        `domain\\s*:\\s*${plan.domain.replaceAll('.', '\\.')}\\s*\\n\\s*nameserver\\[0\\]\\s*:\\s*${dnsIp.replaceAll('.', '\\.')}`,
      ).test(result.stdout)
      return [
        listed
          ? {hop: '/etc/resolver', ok: true, detail: `scutil --dns lists ${plan.domain} -> ${dnsIp}`}
          : {hop: '/etc/resolver', ok: false, detail: `macOS has not picked up /etc/resolver/${plan.domain}: \`scutil --dns\` does not list it`},
      ]
    }
    case 'windows-nrpt': {
      const rules = await nrptRules(ctx).catch(() => [])
      const present = rules.some((rule) => rule.namespace === `.${plan.domain}` && rule.nameServers.includes(dnsIp))
      return [
        present
          ? {hop: 'NRPT', ok: true, detail: `the NRPT sends .${plan.domain} to ${dnsIp}`}
          : {hop: 'NRPT', ok: false, detail: `the NRPT has no rule sending .${plan.domain} to ${dnsIp} (Get-DnsClientNrptRule)`},
      ]
    }
    default:
      return []
  }
}
