/**
 * What dns-setup prints: lines, one fact each ("detected: ...", "edited ...", "ran: ..."), each with
 * a level the command colours by, so the command file stays thin and tests can read the output.
 */
import type {FileOutcome} from './apply.js'
import {unifiedDiff} from './diff.js'
import {formatCommand} from './runner.js'
import type {ApplyResult, UndoResult} from './setup.js'
import {isEmptyPlan, type CommandStep, type Detection, type Plan} from './types.js'
import {REASON_STRIP} from './undo-plan.js'

/** warn: something the user should act on; ok: verified; info: everything else. */
export interface Line {
  level: 'info' | 'ok' | 'warn'
  text: string
}

const info = (text: string): Line => ({level: 'info', text})
const warn = (text: string): Line => ({level: 'warn', text})

function indent(text: string): string[] {
  return text.split('\n').map((line) => `    ${line}`)
}

function commandLines(step: CommandStep): string[] {
  const lines = [`  $ ${formatCommand(step.cmd, step.args)}`]
  if (step.input !== undefined) lines.push(...indent(`(stdin) ${step.input.trimEnd().replaceAll('\n', '\n        ')}`))
  return lines
}

function renderDetection(detection: Detection, plan: Plan): Line[] {
  const lines = [info(`detected: ${detection.description}`)]
  for (const warning of detection.warnings) lines.push(warn(`warning: ${warning}`))
  for (const trap of plan.traps) {
    if (trap.handled) lines.push(info(`note: ${trap.message}`))
    else lines.push(warn(`${trap.blocking ? 'blocked' : 'warning'}: ${trap.message}${trap.fix ? `; to fix: ${trap.fix}` : ''}`))
  }
  return lines
}

/** The dry run: every file change as a diff, every command as typed. */
function renderPlan(plan: Plan): Line[] {
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
  return lines.map(info)
}

function fileLine(outcome: FileOutcome, undo: boolean): string {
  if (outcome.action === 'delete') return `removed ${outcome.path}`
  if (outcome.action === 'create') return `created ${outcome.path}`
  const how = outcome.method === 'in-place' ? 'written in place: it is a mount point of its own' : 'replaced atomically'
  if (undo) return `restored ${outcome.path} (${how})`
  return `edited ${outcome.path} (${how})${outcome.backup ? `; the original is saved in ${outcome.backup}` : ''}`
}

export function renderApply(result: ApplyResult): Line[] {
  const {plan} = result
  const lines = renderDetection(result.detection, plan)
  if (result.dryRun) {
    if (isEmptyPlan(plan)) {
      lines.push(info(`dry run: nothing to change: names under .${plan.domain} already go to ${plan.dnsIp}`))
    } else {
      lines.push(info('dry run: nothing was changed; dns-setup would:'), ...renderPlan(plan))
    }
    for (const note of plan.notes) lines.push(info(`note: ${note}`))
    return lines
  }
  if (!result.changed) {
    lines.push(info(`nothing to change: names under .${plan.domain} already go to ${plan.dnsIp}`))
  } else {
    for (const outcome of result.execution?.files ?? []) lines.push(info(fileLine(outcome, false)))
    for (const dir of result.execution?.dirsCreated ?? []) lines.push(info(`created the directory ${dir}`))
    for (const outcome of result.execution?.commands ?? []) lines.push(info(`ran: ${outcome.command}`))
    lines.push(info(`recorded in ${result.statePath}: \`sudo highway dns-setup --undo\` reverses it`))
    for (const note of plan.notes) lines.push(info(`note: ${note}`))
  }
  const verify = result.verify
  if (verify && 'skipped' in verify) lines.push(info(`verify: ${verify.skipped}`))
  else if (verify?.ok) lines.push({level: 'ok', text: `verified: ${verify.summary}`})
  else if (verify) lines.push(warn(`verify failed: ${verify.summary}`))
  return lines
}

export function renderUndo(result: UndoResult): Line[] {
  if (result.nothingRecorded) return [info(`nothing to undo: no record of a dns-setup in ${result.statePath}`)]
  const plan = result.plan!
  const lines = [info(`recorded: ${plan.description} (.${plan.domain} -> ${plan.dnsIp})`)]
  if (result.dryRun) {
    if (isEmptyPlan(plan)) lines.push(info('dry run: nothing left to change; undo would only remove the record'))
    else lines.push(info('dry run: nothing was changed; undo would:'), ...renderPlan(plan))
    lines.push(info(`  and remove the record ${result.statePath}`))
    for (const note of plan.notes) lines.push(info(`note: ${note}`))
    return lines
  }
  for (const outcome of result.execution?.files ?? []) {
    const change = plan.files.find((candidate) => candidate.path === outcome.path)
    lines.push(info(change?.reason === REASON_STRIP ? `removed highway's line from ${outcome.path}` : fileLine(outcome, true)))
  }
  for (const dir of result.execution?.dirsRemoved ?? []) lines.push(info(`removed the directory ${dir}`))
  for (const outcome of result.execution?.commands ?? []) lines.push(info(`ran: ${outcome.command}${outcome.ok ? '' : ` (failed, exit ${outcome.code})`}`))
  for (const note of plan.notes) lines.push(info(`note: ${note}`))
  for (const warning of result.warnings) lines.push(warn(`warning: ${warning}`))
  lines.push(info(`removed the record ${result.statePath}${result.changed ? '' : ' (there was nothing else left to undo)'}`))
  return lines
}
