/**
 * Windows: a Name Resolution Policy Table rule (`Add-DnsClientNrptRule`) sending the domain to
 * highway's DNS, found again by its Comment. NRPT has no port: highway's DNS must answer on :53.
 */
import {isDeepStrictEqual} from 'node:util'
import {UserError} from '../../core/errors.js'
import {DEFAULT_SYSTEM_ROOT, NRPT_COMMENT, clearDnsCache, nrptAdd, nrptList, nrptRemove, restrictToAdministrators, systemRoot} from '../commands.js'
import type {MechanismDef, PlanInput, PlanParts} from '../mechanism.js'
import {isLocalDomain} from '../nsswitch.js'
import type {NrptRule, Observed} from '../observe.js'
import type {DnsSetupState} from '../state.js'
import type {CommandStep, Plan, ResolverContext} from '../types.js'
import {isString, isStringArray} from './shared.js'

export function parseNrptRules(stdout: string): NrptRule[] {
  return stdout
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [namespace, servers = ''] = line.split(/\s+/)
      return {namespace, nameServers: servers.split(',').filter(Boolean)}
    })
}

async function nrptRules(ctx: ResolverContext): Promise<NrptRule[]> {
  const step = nrptList(systemRoot(ctx.env))
  const result = await ctx.runner.run(step.cmd, step.args)
  if (result.code !== 0) {
    throw new UserError(`cannot read the Name Resolution Policy Table (exit ${result.code}): ${result.stderr.trim() || 'no message'}`, {
      suggestion: 'run from an Administrator PowerShell on Windows 8 / Server 2012 or later',
    })
  }
  return parseNrptRules(result.stdout)
}

function plan({domain, dnsIp, observed}: PlanInput): PlanParts {
  const namespace = `.${domain}`
  const windows = observed.systemRoot ?? DEFAULT_SYSTEM_ROOT
  const mine = (observed.nrptRules ?? []).filter((rule) => rule.namespace === namespace)
  const inPlace = mine.length === 1 && isDeepStrictEqual(mine[0].nameServers, [dnsIp])
  const commands: CommandStep[] = []
  if (!inPlace) {
    if (mine.length > 0) commands.push(nrptRemove(windows, namespace))
    commands.push(nrptAdd(windows, namespace, [dnsIp]), clearDnsCache(windows))
  }
  return {
    commands,
    undo: [nrptRemove(windows, namespace), clearDnsCache(windows)],
    runtime: [{kind: 'nrpt', namespace, nameServers: [dnsIp], comment: NRPT_COMMENT}],
    notes: [`split DNS: only names under .${domain} go to ${dnsIp} (NRPT has no port: highway's DNS must answer on ${dnsIp}:53)`],
  }
}

function undo(state: DnsSetupState, observed: Observed): {commands: CommandStep[]; notes: string[]} {
  const commands: CommandStep[] = []
  const notes: string[] = []
  const windows = observed.systemRoot ?? DEFAULT_SYSTEM_ROOT
  for (const runtime of state.runtime) {
    if (runtime.kind !== 'nrpt') continue
    if ((observed.nrptRules ?? []).some((rule) => rule.namespace === runtime.namespace))
      commands.push(nrptRemove(windows, runtime.namespace), clearDnsCache(windows))
    else notes.push(`the NRPT rule for ${runtime.namespace} is already gone`)
  }
  return {commands, notes}
}

async function hops(ctx: ResolverContext, {domain, dnsIp}: Plan) {
  const rules = await nrptRules(ctx).catch(() => [])
  const present = rules.some((rule) => rule.namespace === `.${domain}` && rule.nameServers.includes(dnsIp))
  return [
    present
      ? {hop: 'NRPT', ok: true, detail: `the NRPT sends .${domain} to ${dnsIp}`}
      : {hop: 'NRPT', ok: false, detail: `the NRPT has no rule sending .${domain} to ${dnsIp} (Get-DnsClientNrptRule)`},
  ]
}

export const windowsNrpt: MechanismDef = {
  name: 'windows-nrpt',
  platform: 'win32',
  detect: async () => ({description: 'Windows DNS client with its Name Resolution Policy Table (NRPT)'}),
  observe: async (ctx) => ({nrptRules: await nrptRules(ctx), systemRoot: systemRoot(ctx.env)}),
  plan,
  traps: (_detection, domain) =>
    isLocalDomain(domain)
      ? [
          {
            kind: 'windows-mdns',
            blocking: false,
            handled: true,
            message: "Windows also asks multicast DNS for .local names; the NRPT rule sends them to highway's DNS as well",
          },
        ]
      : [],
  hops,
  observeUndo: async (ctx, _rootFs, state) => ({
    systemRoot: systemRoot(ctx.env),
    ...(state.runtime.some((runtime) => runtime.kind === 'nrpt') ? {nrptRules: await nrptRules(ctx)} : {}),
  }),
  stateDirCommands: (ctx, dir) => [restrictToAdministrators(systemRoot(ctx.env), dir)],
  undo,
  validRuntime: (r) => r.kind === 'nrpt' && isString(r.namespace) && isStringArray(r.nameServers) && isString(r.comment),
}
