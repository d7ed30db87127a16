/**
 * After the change: does a name under the domain resolve through the OS's own path (glibc and
 * nsswitch on Linux, the system resolver on macOS and Windows)? If not, walk the hops one by one
 * (highway's DNS itself, the mechanism in between, nsswitch) and name the first that fails.
 */
import {dscacheutilHost, getentHosts, resolveDnsName, systemRoot} from './commands.js'
import {askServer} from './dns-query.js'
import type {Hop} from './mechanism.js'
import {mechanism} from './mechanisms/index.js'
import {formatCommand} from './runner.js'
import type {Detection, Plan, ResolverContext} from './types.js'

const PROBE_LABEL = 'highway-probe'

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

function words(stdout: string): string[] {
  return stdout.split(/\s+/).filter(Boolean)
}

/** The OS's own lookup of `name`: the command and the IPv4 addresses it printed. */
async function systemLookup(ctx: ResolverContext, name: string): Promise<{via: string; addresses: string[]; code: number}> {
  const step = ctx.platform === 'darwin' ? dscacheutilHost(name) : ctx.platform === 'win32' ? resolveDnsName(systemRoot(ctx.env), name) : getentHosts(name)
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
  return {via, addresses, code: result.code}
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
  hops.push(...((await mechanism(detection.mechanism).hops?.(ctx, plan, probe)) ?? []))
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
