/**
 * What `dns-setup --undo` would change: pure, from the record of what dns-setup did and what is in
 * place now. A file highway edited comes back byte-identical if it still is exactly what highway
 * wrote; if someone changed it since, only highway's marked line is removed. Files highway created
 * are removed. Runtime settings go back to what they were, keeping anything added since by others.
 */
import {CLEAR_DNS_CACHE, NM_RELOAD_DNS, nrptRemove, resolvconfDelete} from './commands.js'
import type {Observed} from './observe.js'
import {restoreLinkSteps, sameList} from './plan.js'
import {withoutHighwayLine} from './resolv-file.js'
import {sha256, type DnsSetupState} from './state.js'
import type {FileChange, Plan} from './types.js'

export const REASON_RESTORE = 'restore it byte for byte as it was before dns-setup'
export const REASON_STRIP = "remove only highway's line"

function without(values: string[], remove: string[]): string[] {
  return values.filter((value) => !remove.includes(value))
}

export function buildUndoPlan(state: DnsSetupState, observed: Observed): Plan {
  const files: FileChange[] = []
  const notes: string[] = []
  const commands: Plan['commands'] = []

  for (const entry of state.files) {
    const current = observed.files[entry.path]?.content ?? null
    if (entry.action === 'created') {
      if (current === null) {
        notes.push(`${entry.path} is already gone`)
        continue
      }
      if (sha256(current) !== entry.writtenSha256) notes.push(`${entry.path} was changed since dns-setup created it; removed anyway (highway owns it)`)
      files.push({path: entry.path, action: 'delete', before: current, after: null, createDirs: [], reason: 'highway created it'})
      continue
    }
    if (current === null) {
      notes.push(`${entry.path} no longer exists; left as it is`)
      continue
    }
    if (sha256(current) === entry.writtenSha256) {
      if (current !== entry.original) {
        files.push({path: entry.path, action: 'edit', before: current, after: entry.original, createDirs: [], reason: REASON_RESTORE})
      }
      continue
    }
    const stripped = withoutHighwayLine(current)
    if (stripped.removed > 0) {
      files.push({path: entry.path, action: 'edit', before: current, after: stripped.content, createDirs: [], reason: REASON_STRIP})
      notes.push(`${entry.path} was changed by something else since dns-setup: removed only highway's line and kept the rest`)
    } else {
      notes.push(`${entry.path} was rewritten since dns-setup and no longer has highway's line; left as it is`)
    }
  }

  for (const runtime of state.runtime) {
    if (runtime.kind === 'resolved-link') {
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
      const untouched = sameList(current.dns, runtime.dns) && sameList(current.domains, runtime.domains)
      const target = untouched ? runtime.prior : {dns: without(current.dns, runtime.dns), domains: without(current.domains, runtime.domains)}
      if (!untouched) notes.push(`link ${runtime.link} was changed since dns-setup: removed only highway's server and routing domain`)
      commands.push(...restoreLinkSteps(runtime.link, target))
    } else if (runtime.kind === 'resolvconf') {
      if (observed.resolvconfRecord === null || observed.resolvconfRecord === undefined)
        notes.push(`the resolvconf record ${runtime.interface} is already gone`)
      else commands.push(resolvconfDelete())
    } else if ((observed.nrptRules ?? []).some((rule) => rule.namespace === runtime.namespace)) {
      commands.push(nrptRemove(runtime.namespace), CLEAR_DNS_CACHE)
    } else {
      notes.push(`the NRPT rule for ${runtime.namespace} is already gone`)
    }
  }

  if (state.mechanism === 'networkmanager-dnsmasq' && files.length > 0) commands.push(NM_RELOAD_DNS)

  return {
    mechanism: state.mechanism,
    description: state.description,
    domain: state.domain,
    dnsIp: state.dnsIp,
    files,
    commands,
    removeDirs: [...state.dirsCreated].reverse(),
    undo: [],
    runtime: [],
    runtimeOnly: state.runtimeOnly,
    notes,
    traps: [],
  }
}
