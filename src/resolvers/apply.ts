/**
 * Carries out a plan: files first (every one checked writable before the first is touched), then
 * commands, then empty directories removed. Progress goes into an Execution the caller owns, so a
 * run that fails halfway still records what it did and `--undo` can reverse it.
 */
import {UserError} from '../core/errors.js'
import type {RootFs, WriteMethod} from './root-fs.js'
import {formatCommand} from './runner.js'
import type {CommandStep, Plan, ResolverContext} from './types.js'

export interface FileOutcome {
  path: string
  action: 'create' | 'edit' | 'delete'
  /** How the content was written: a new file, an atomic rename, or in place (a bind-mounted file). */
  method?: WriteMethod
  /** Where the original was copied before an edit. */
  backup?: string
  /** The content before and after (null: absent). */
  before: string | null
  after: string | null
}

interface CommandOutcome {
  command: string
  cmd: string
  args: string[]
  input?: string
  code: number
  stdout: string
  stderr: string
  ok: boolean
}

export interface Execution {
  files: FileOutcome[]
  dirsCreated: string[]
  dirsRemoved: string[]
  commands: CommandOutcome[]
}

export function newExecution(): Execution {
  return {files: [], dirsCreated: [], dirsRemoved: [], commands: []}
}

interface ExecuteOptions {
  /** Copies the content of a file before editing it; returns where (undefined: no copy needed). */
  backup?: (path: string, content: string) => Promise<string | undefined>
  /** Apply stops at the first failing command; undo carries on and reports it. */
  stopOnCommandFailure: boolean
}

export async function runStep(ctx: ResolverContext, step: CommandStep): Promise<CommandOutcome> {
  const result = await ctx.runner.run(step.cmd, step.args, step.input)
  return {command: formatCommand(step.cmd, step.args), cmd: step.cmd, args: step.args, input: step.input, ...result, ok: result.code === 0}
}

function commandFailure(outcome: CommandOutcome): UserError {
  const detail = (outcome.stderr || outcome.stdout).trim().split('\n')[0] || 'no message'
  const missing = outcome.code === 127 ? ` (${outcome.cmd} is not installed or not on PATH)` : ''
  return new UserError(`\`${outcome.command}\` failed (exit ${outcome.code})${missing}: ${detail}`, {
    suggestion: 'what dns-setup changed before this step is recorded: `sudo highway dns-setup --undo` reverses it',
  })
}

export async function executePlan(ctx: ResolverContext, rootFs: RootFs, plan: Plan, execution: Execution, options: ExecuteOptions): Promise<void> {
  for (const change of plan.files) await rootFs.assertWritable(change.path)

  for (const change of plan.files) {
    execution.dirsCreated.push(...(await rootFs.ensureDirs(change.createDirs)))
    if (change.action === 'delete') {
      await rootFs.remove(change.path)
      execution.files.push({path: change.path, action: 'delete', before: change.before, after: null})
      continue
    }
    const backup = change.action === 'edit' && change.before !== null && options.backup ? await options.backup(change.path, change.before) : undefined
    const method = await rootFs.write(change.path, change.after ?? '')
    execution.files.push({path: change.path, action: change.action, method, backup, before: change.before, after: change.after})
  }

  for (const step of plan.commands) {
    const outcome = await runStep(ctx, step)
    execution.commands.push(outcome)
    if (!outcome.ok && options.stopOnCommandFailure) throw commandFailure(outcome)
  }

  for (const dir of plan.removeDirs) {
    if (await rootFs.removeDirIfEmpty(dir)) execution.dirsRemoved.push(dir)
  }
}
