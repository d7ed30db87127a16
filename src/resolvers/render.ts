/**
 * What dns-setup prints: plain lines, one fact each ("detected: ...", "edited ...", "ran: ..."),
 * so the command file stays thin and tests can read the output.
 */
import type {FileOutcome} from './apply.js'
import {unifiedDiff} from './diff.js'
import {formatCommand} from './runner.js'
import type {ApplyResult, UndoResult} from './setup.js'
import type {CommandStep, Detection, Plan} from './types.js'
import {REASON_STRIP} from './undo-plan.js'

function indent(text: string): string[] {
  return text.split('\n').map((line) => `    ${line}`)
}

function commandLines(step: CommandStep): string[] {
  const lines = [`  $ ${formatCommand(step.cmd, step.args)}`]
  if (step.input !== undefined) lines.push(...indent(`(stdin) ${step.input.trimEnd().replaceAll('\n', '\n        ')}`))
  return lines
}

export function renderDetection(detection: Detection, plan: Plan | null): string[] {
  const lines = [`detected: ${detection.description}`]
  for (const warning of detection.warnings) lines.push(`warning: ${warning}`)
  for (const trap of plan?.traps ?? []) {
    if (trap.handled) lines.push(`note: ${trap.message}`)
    else lines.push(`${trap.blocking ? 'blocked' : 'warning'}: ${trap.message}${trap.fix ? `; to fix: ${trap.fix}` : ''}`)
  }
  return lines
}

/** The dry run: every file change as a diff, every command as typed. */
export function renderPlan(plan: Plan): string[] {
  const lines: string[] = []
  for (const change of plan.files) {
    const verb = change.action === 'create' ? 'create' : change.action === 'delete' ? 'remove' : 'edit'
    lines.push(`${verb} ${change.path} (${change.reason})${change.createDirs.length > 0 ? `, creating ${change.createDirs.join(', ')}` : ''}:`)
    lines.push(...indent(unifiedDiff(change.path, change.before, change.after)))
  }
  if (plan.commands.length > 0) {
    lines.push('run:')
    for (const step of plan.commands) lines.push(...commandLines(step))
  }
  for (const dir of plan.removeDirs) lines.push(`remove the directory ${dir} if it is empty`)
  return lines
}

function fileLine(outcome: FileOutcome, undo: boolean): string {
  if (outcome.action === 'delete') return `removed ${outcome.path}`
  if (outcome.action === 'create') return `created ${outcome.path}`
  const how = outcome.method === 'in-place' ? 'written in place: it is a mount point of its own' : 'replaced atomically'
  if (undo) return `restored ${outcome.path} (${how})`
  return `edited ${outcome.path} (${how})${outcome.backup ? `; the original is saved in ${outcome.backup}` : ''}`
}

export function renderApply(result: ApplyResult): string[] {
  const {plan} = result
  const lines = renderDetection(result.detection, plan)
  if (result.dryRun) {
    if (plan.files.length === 0 && plan.commands.length === 0) {
      lines.push(`dry run: nothing to change: names under .${plan.domain} already go to ${plan.dnsIp}`)
    } else {
      lines.push('dry run: nothing was changed; dns-setup would:', ...renderPlan(plan))
    }
    for (const note of plan.notes) lines.push(`note: ${note}`)
    return lines
  }
  if (!result.changed) {
    lines.push(`nothing to change: names under .${plan.domain} already go to ${plan.dnsIp}`)
  } else {
    for (const outcome of result.execution?.files ?? []) lines.push(fileLine(outcome, false))
    for (const dir of result.execution?.dirsCreated ?? []) lines.push(`created the directory ${dir}`)
    for (const outcome of result.execution?.commands ?? []) lines.push(`ran: ${outcome.command}`)
    lines.push(`recorded in ${result.statePath}: \`sudo highway dns-setup --undo\` reverses it`)
    for (const note of plan.notes) lines.push(`note: ${note}`)
  }
  const verify = result.verify
  if (verify && 'skipped' in verify) lines.push(`verify: ${verify.skipped}`)
  else if (verify?.ok) lines.push(`verified: ${verify.summary}`)
  else if (verify) lines.push(`verify failed: ${verify.summary}`)
  return lines
}

export function renderUndo(result: UndoResult): string[] {
  if (result.nothingRecorded) return [`nothing to undo: no record of a dns-setup in ${result.statePath}`]
  const plan = result.plan!
  const lines = [`recorded: ${plan.description} (.${plan.domain} -> ${plan.dnsIp})`]
  if (result.dryRun) {
    if (plan.files.length === 0 && plan.commands.length === 0) lines.push('dry run: nothing left to change; undo would only remove the record')
    else lines.push('dry run: nothing was changed; undo would:', ...renderPlan(plan))
    lines.push(`  and remove the record ${result.statePath}`)
    for (const note of plan.notes) lines.push(`note: ${note}`)
    return lines
  }
  for (const outcome of result.execution?.files ?? []) {
    const change = plan.files.find((candidate) => candidate.path === outcome.path)
    lines.push(change?.reason === REASON_STRIP ? `removed highway's line from ${outcome.path}` : fileLine(outcome, true))
  }
  for (const dir of result.execution?.dirsRemoved ?? []) lines.push(`removed the directory ${dir}`)
  for (const outcome of result.execution?.commands ?? []) lines.push(`ran: ${outcome.command}${outcome.ok ? '' : ` (failed, exit ${outcome.code})`}`)
  for (const note of plan.notes) lines.push(`note: ${note}`)
  for (const warning of result.warnings) lines.push(`warning: ${warning}`)
  lines.push(`removed the record ${result.statePath}${result.changed ? '' : ' (there was nothing else left to undo)'}`)
  return lines
}
