/**
 * `highway dns-setup` and `--undo` as functions: detect, look at what is in place, plan, then
 * (unless it is a dry run) carry the plan out, record it, and verify through the OS's resolver.
 * The command file only parses flags and prints what these return.
 */
import {UserError} from '../core/errors.js'
import {assertDomain, assertIPv4} from '../core/validate.js'
import {posix} from 'node:path'
import {executePlan, newExecution, runStep, type Execution} from './apply.js'
import {detect} from './detect.js'
import {mechanism} from './mechanisms/index.js'
import {RootFs} from './root-fs.js'
import {observeForApply, observeForUndo} from './observe.js'
import {buildPlan} from './plan.js'
import {assertPrivileged} from './privileges.js'
import {
  assertConfinedRecord,
  backupPath,
  loadState,
  removeState,
  saveState,
  sha256,
  stateDir,
  statePath,
  type DnsSetupState,
  type StateFileEntry,
} from './state.js'
import {isEmptyPlan, type Detection, type Plan, type ResolverContext} from './types.js'
import {buildUndoPlan} from './undo-plan.js'
import {verifyResolution, type VerifyResult} from './verify.js'

export interface ApplyOptions {
  domain: string
  dnsIp: string
  dryRun?: boolean
  /** Check through the OS's own resolver afterwards. Default: only when the root is '/'. */
  verify?: boolean
  /** What verification runs with, when it must differ from the context (a scratch root verified live). */
  verifyWith?: Partial<ResolverContext>
}

export interface ApplyResult {
  action: 'apply'
  dryRun: boolean
  /** False when everything was already in place (or for a dry run). */
  changed: boolean
  detection: Detection
  plan: Plan
  execution: Execution | null
  statePath: string
  verify: VerifyResult | {skipped: string} | null
}

export interface UndoResult {
  action: 'undo'
  dryRun: boolean
  changed: boolean
  /** True when there was no record, so nothing to undo. */
  nothingRecorded: boolean
  plan: Plan | null
  execution: Execution | null
  statePath: string
  /** Steps that could not be undone, each with what to run by hand. */
  warnings: string[]
}

function sameSetupOrFail(state: DnsSetupState | null, domain: string, dnsIp: string, path: string): void {
  if (state && (state.domain !== domain || state.dnsIp !== dnsIp)) {
    throw new UserError(`dns-setup is already in place for .${state.domain} -> ${state.dnsIp} (recorded in ${path}), not for .${domain} -> ${dnsIp}`, {
      suggestion: 'undo it first (`sudo highway dns-setup --undo`), then rerun `sudo highway dns-setup`',
    })
  }
}

/** Detection and plan for `domain` -> `dnsIp`, refusing when a different setup is recorded. */
async function prepareApply(
  ctx: ResolverContext,
  rootFs: RootFs,
  domain: string,
  dnsIp: string,
): Promise<{state: DnsSetupState | null; detection: Detection; plan: Plan}> {
  const state = await loadState(rootFs, ctx.platform)
  sameSetupOrFail(state, domain, dnsIp, statePath(ctx.platform))
  const detection = await detect(ctx, rootFs)
  if (state && state.mechanism !== detection.mechanism) {
    throw new UserError(
      `dns-setup was done for ${state.mechanism} (${state.description}), but this machine now uses ${detection.mechanism} (${detection.description})`,
      {suggestion: 'undo the old change first (`sudo highway dns-setup --undo`), then rerun `sudo highway dns-setup`'},
    )
  }
  const observed = await observeForApply(ctx, rootFs, detection, domain, dnsIp)
  return {state, detection, plan: buildPlan({detection, domain, dnsIp, observed})}
}

function recordApply(ctx: ResolverContext, previous: DnsSetupState | null, plan: Plan, execution: Execution, stateDirs: string[]): DnsSetupState {
  const now = (ctx.now ?? (() => new Date()))().toISOString()
  const files: StateFileEntry[] = [...(previous?.files ?? [])]
  for (const outcome of execution.files) {
    if (outcome.after === null) continue
    const writtenSha256 = sha256(outcome.after)
    const index = files.findIndex((entry) => entry.path === outcome.path)
    const existing = index >= 0 ? files[index] : undefined
    let entry: StateFileEntry
    if (outcome.action === 'create' || existing?.action === 'created') {
      // Created by highway (now or before): still highway's own file.
      entry = {path: outcome.path, action: 'created', writtenSha256}
    } else {
      // A shared file: the original is what it was just before this edit (anything highway wrote
      // before is gone from it, or the plan would have been empty).
      const original = outcome.before ?? ''
      entry = {
        path: outcome.path,
        action: 'edited',
        original,
        originalSha256: sha256(original),
        writtenSha256,
        backup: outcome.backup ?? backupPath(ctx.platform, outcome.path),
      }
    }
    if (index >= 0) files[index] = entry
    else files.push(entry)
  }
  return {
    schema: 1,
    tool: 'highway dns-setup',
    createdAt: previous?.createdAt ?? now,
    updatedAt: now,
    platform: ctx.platform,
    mechanism: plan.mechanism,
    description: plan.description,
    domain: plan.domain,
    dnsIp: plan.dnsIp,
    files,
    dirsCreated: [...(previous?.dirsCreated ?? []), ...execution.dirsCreated],
    stateDirsCreated: [...(previous?.stateDirsCreated ?? []), ...stateDirs],
    runtime: plan.runtime.length > 0 ? plan.runtime : (previous?.runtime ?? []),
    runtimeOnly: plan.runtimeOnly,
    commands: [
      ...(previous?.commands ?? []),
      ...execution.commands.filter((outcome) => outcome.ok).map(({cmd, args, input}) => ({cmd, args, ...(input === undefined ? {} : {input})})),
    ],
    undo: plan.undo.map(({cmd, args, input}) => ({cmd, args, ...(input === undefined ? {} : {input})})),
  }
}

/**
 * Where a mode says nothing (Windows), the mechanism locks the state folder down before anything is
 * written there; a failure leaves nothing behind. The commands are recorded with the rest.
 */
async function secureStateDir(ctx: ResolverContext, rootFs: RootFs, plan: Plan, execution: Execution): Promise<string[]> {
  const hook = mechanism(plan.mechanism).stateDirCommands
  if (!hook) return []
  const dir = stateDir(ctx.platform)
  const created = await rootFs.ensureDirs(await rootFs.missingDirs(posix.join(dir, 'dns-setup.json')))
  const real = rootFs.real(dir)
  for (const step of hook(ctx, ctx.platform === 'win32' ? real.replaceAll('/', '\\') : real)) {
    const outcome = await runStep(ctx, step)
    if (!outcome.ok) {
      for (const path of [...created].reverse()) await rootFs.removeDirIfEmpty(path)
      const detail = (outcome.stderr || outcome.stdout).trim().split('\n')[0] || 'no message'
      throw new UserError(`cannot restrict highway's state folder ${real} to administrators: \`${outcome.command}\` failed (exit ${outcome.code}: ${detail})`, {
        suggestion: 'run it from an elevated (Administrator) PowerShell; nothing was changed',
      })
    }
    execution.commands.push(outcome)
  }
  return created
}

/** Carries out a non-empty plan and records it, even when it fails halfway. */
export async function carryOut(ctx: ResolverContext, rootFs: RootFs, state: DnsSetupState | null, plan: Plan): Promise<Execution> {
  const execution = newExecution()
  const owned = new Set((state?.files ?? []).filter((entry) => entry.action === 'created').map((entry) => entry.path))
  const stateDirs: string[] = await secureStateDir(ctx, rootFs, plan, execution)
  const backup = async (path: string, content: string) => {
    if (owned.has(path)) return undefined
    const to = backupPath(ctx.platform, path)
    stateDirs.push(...(await rootFs.ensureDirs(await rootFs.missingDirs(to))))
    await rootFs.write(to, content)
    return to
  }
  try {
    await executePlan(ctx, rootFs, plan, execution, {backup, stopOnCommandFailure: true})
  } finally {
    if (execution.files.length > 0 || execution.commands.length > 0 || execution.dirsCreated.length > 0) {
      await saveState(rootFs, recordApply(ctx, state, plan, execution, stateDirs))
    }
  }
  return execution
}

export async function applyDnsSetup(ctx: ResolverContext, options: ApplyOptions): Promise<ApplyResult> {
  const domain = assertDomain(options.domain)
  const dnsIp = assertIPv4(options.dnsIp, 'DNS address')
  const rootFs = new RootFs(ctx.root, ctx.fs)
  const {state, detection, plan} = await prepareApply(ctx, rootFs, domain, dnsIp)
  const result: ApplyResult = {
    action: 'apply',
    dryRun: Boolean(options.dryRun),
    changed: false,
    detection,
    plan,
    execution: null,
    statePath: rootFs.real(statePath(ctx.platform)),
    verify: null,
  }
  if (options.dryRun) return result
  if (!isEmptyPlan(plan)) {
    await assertPrivileged(ctx, false)
    result.execution = await carryOut(ctx, rootFs, state, plan)
    result.changed = true
  }
  const verify = options.verify ?? ctx.root === '/'
  if (verify) result.verify = await verifyResolution({...ctx, ...options.verifyWith}, detection, plan)
  else if (options.verify === false) result.verify = {skipped: 'skipped (--no-verify)'}
  else result.verify = {skipped: `skipped: --root ${ctx.root} is a scratch directory, not this machine (pass --verify to check this machine's resolver anyway)`}
  return result
}

export async function undoDnsSetup(ctx: ResolverContext, options: {dryRun?: boolean} = {}): Promise<UndoResult> {
  const rootFs = new RootFs(ctx.root, ctx.fs)
  const path = statePath(ctx.platform)
  const result: UndoResult = {
    action: 'undo',
    dryRun: Boolean(options.dryRun),
    changed: false,
    nothingRecorded: false,
    plan: null,
    execution: null,
    statePath: rootFs.real(path),
    warnings: [],
  }
  const state = await loadState(rootFs, ctx.platform)
  if (!state) return {...result, nothingRecorded: true}
  await assertConfinedRecord(rootFs, ctx.platform, state)
  const plan = buildUndoPlan(state, await observeForUndo(ctx, rootFs, state))
  result.plan = plan
  if (options.dryRun) return result
  await assertPrivileged(ctx, true)
  const execution = newExecution()
  result.execution = execution
  await executePlan(ctx, rootFs, plan, execution, {stopOnCommandFailure: false})
  for (const outcome of execution.commands.filter((candidate) => !candidate.ok)) {
    const detail = (outcome.stderr || outcome.stdout).trim().split('\n')[0] || 'no message'
    result.warnings.push(`\`${outcome.command}\` failed (exit ${outcome.code}: ${detail}): run it by hand if the setting is still there`)
  }
  await removeState(rootFs, state)
  result.changed = !isEmptyPlan(plan) || execution.dirsRemoved.length > 0
  return result
}
