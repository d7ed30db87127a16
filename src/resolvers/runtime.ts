/**
 * For `highway up`: settings dns-setup put in place that live only at runtime (resolved's per-link
 * DNS, the resolvconf record under /run, WSL's regenerated resolv.conf) are lost on reboot or when
 * docker0 is recreated. This checks them against the record and puts them back when it may (root),
 * or returns one line saying what is missing and what to run.
 */
import type {Settings} from '../core/types.js'
import {isUserError} from '../core/errors.js'
import {detect} from './detect.js'
import {RootFs, type FsLike} from './root-fs.js'
import {buildPlan} from './plan.js'
import {isPrivileged} from './privileges.js'
import {formatCommand} from './runner.js'
import {observeForApply} from './observe.js'
import {carryOut} from './setup.js'
import {loadState} from './state.js'
import {currentPlatform} from './platform.js'
import {isEmptyPlan, type CommandRunner, type Plan, type Platform, type ResolverContext} from './types.js'

export type RuntimeStatus = 'none' | 'ok' | 'reapplied' | 'missing' | 'changed' | 'failed'

export interface RuntimeCheck {
  /**
   * none: dns-setup was never run (nothing to say); ok: all in place; reapplied: put back now;
   * missing: something is gone and could not be put back here; changed: highway's domain or address,
   * or the machine's mechanism, changed since; failed: the check itself failed.
   */
  status: RuntimeStatus
  /** One line for the user, null when there is nothing to say. */
  message: string | null
}

export interface RuntimeCheckOptions {
  platform?: Platform
  env?: NodeJS.ProcessEnv
  fs?: FsLike
  getuid?: () => number | undefined
  /** Put missing runtime settings back when privileged (default true). */
  reapply?: boolean
}

function whatIsMissing(plan: Plan): string {
  const parts = [...plan.files.map((change) => `${change.path} lacks highway's entry`), ...plan.commands.map((step) => formatCommand(step.cmd, step.args))]
  return parts.join('; ')
}

export async function checkRuntimeSetup(
  root: string,
  runner: CommandRunner,
  settings: Pick<Settings, 'domain' | 'bridgeIp'>,
  options: RuntimeCheckOptions = {},
): Promise<RuntimeCheck> {
  try {
    const ctx: ResolverContext = {
      root,
      runner,
      platform: options.platform ?? currentPlatform(),
      env: options.env ?? process.env,
      fs: options.fs,
      getuid: options.getuid,
    }
    const rootFs = new RootFs(ctx.root, ctx.fs)
    const state = await loadState(rootFs, ctx.platform)
    if (!state) return {status: 'none', message: null}
    if (state.domain !== settings.domain || state.dnsIp !== settings.bridgeIp) {
      return {
        status: 'changed',
        message: `dns-setup sends .${state.domain} to ${state.dnsIp}, but highway now serves .${settings.domain} on ${settings.bridgeIp}: run \`sudo highway dns-setup --undo\`, then \`sudo highway dns-setup\``,
      }
    }
    const detection = await detect(ctx, rootFs)
    if (detection.mechanism !== state.mechanism) {
      return {
        status: 'changed',
        message: `dns-setup was done for ${state.mechanism}, but this machine now uses ${detection.description}: run \`sudo highway dns-setup --undo\`, then \`sudo highway dns-setup\``,
      }
    }
    const plan = buildPlan({
      detection,
      domain: state.domain,
      dnsIp: state.dnsIp,
      observed: await observeForApply(ctx, rootFs, detection, state.domain, state.dnsIp),
    })
    if (isEmptyPlan(plan)) return {status: 'ok', message: null}
    const missing = whatIsMissing(plan)
    if (!state.runtimeOnly || options.reapply === false || !(await isPrivileged(ctx))) {
      return {
        status: 'missing',
        message: `highway's DNS setting for .${state.domain} is no longer in place (needs: ${missing}): run \`sudo highway dns-setup\` to put it back`,
      }
    }
    await carryOut(ctx, rootFs, state, plan)
    return {status: 'reapplied', message: `put highway's DNS setting for .${state.domain} back (${missing})`}
  } catch (error) {
    const why = isUserError(error) ? error.message : `unexpected error: ${(error as Error).message}`
    return {status: 'failed', message: `could not check highway's DNS setting: ${why}`}
  }
}
