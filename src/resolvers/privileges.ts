/**
 * Changing how the machine resolves names needs root (an Administrator shell on Windows). With
 * `--root` pointing at a scratch directory, being able to write there is enough.
 */
import {constants} from 'node:fs'
import * as fsp from 'node:fs/promises'
import {UserError} from '../core/errors.js'
import {isAdministrator, systemRoot} from './commands.js'
import type {ResolverContext} from './types.js'

function notPrivileged(undo: boolean): UserError {
  return new UserError(`dns-setup changes how this machine resolves names and needs root: rerun with sudo (sudo highway dns-setup${undo ? ' --undo' : ''})`)
}

export async function isPrivileged(ctx: ResolverContext): Promise<boolean> {
  if (ctx.platform === 'win32' && ctx.root === '/') {
    const step = isAdministrator(systemRoot(ctx.env))
    const result = await ctx.runner.run(step.cmd, step.args)
    return result.code === 0 && result.stdout.trim() === 'True'
  }
  const uid = (ctx.getuid ?? (() => process.getuid?.()))()
  if (uid === 0) return true
  if (ctx.root === '/') return false
  try {
    await (ctx.fs ?? fsp).access(ctx.root, constants.W_OK)
    return true
  } catch {
    return false
  }
}

export async function assertPrivileged(ctx: ResolverContext, undo: boolean): Promise<void> {
  if (await isPrivileged(ctx)) return
  if (ctx.platform === 'win32' && ctx.root === '/') {
    throw new UserError(`dns-setup changes how this machine resolves names and needs an Administrator shell: rerun it from an elevated PowerShell`)
  }
  throw notPrivileged(undo)
}
