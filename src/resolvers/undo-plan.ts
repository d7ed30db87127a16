/**
 * What `dns-setup --undo` would change: pure, from the record of what dns-setup did and what is in
 * place now. A file highway edited comes back byte-identical if it still is exactly what highway
 * wrote; if someone changed it since, only highway's marked line is removed. Files highway created
 * are removed. Runtime settings go back to what they were (the mechanism's undo), keeping anything
 * added since by others.
 */
import {mechanism} from './mechanisms/index.js'
import type {Observed} from './observe.js'
import {withoutHighwayLine} from './resolv-file.js'
import {sha256, type DnsSetupState} from './state.js'
import type {FileChange, Plan} from './types.js'

const REASON_RESTORE = 'restore it byte for byte as it was before dns-setup'
export const REASON_STRIP = "remove only highway's line"

export function buildUndoPlan(state: DnsSetupState, observed: Observed): Plan {
  const files: FileChange[] = []
  const notes: string[] = []

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

  const runtime = mechanism(state.mechanism).undo?.(state, observed, files) ?? {commands: [], notes: []}
  return {
    mechanism: state.mechanism,
    description: state.description,
    domain: state.domain,
    dnsIp: state.dnsIp,
    files,
    commands: runtime.commands,
    removeDirs: [...state.dirsCreated].reverse(),
    undo: [],
    runtime: [],
    runtimeOnly: state.runtimeOnly,
    notes: [...notes, ...runtime.notes],
    traps: [],
  }
}
