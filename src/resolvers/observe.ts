/**
 * What is in place right now, for the plan to compare against: the content of the files the plan
 * would write, and the runtime settings only a program can tell (resolved's per-link DNS, the
 * resolvconf record, highway's NRPT rules). Reads only; the plan itself stays pure.
 */
import {UserError} from '../core/errors.js'
import {IP_ADDRESSES, RESOLVCONF_INTERFACE, nrptList, resolvectlShow} from './commands.js'
import type {RootFs} from './root-fs.js'
import {formatCommand} from './runner.js'
import type {Mechanism, ResolverContext} from './types.js'

export interface ObservedFile {
  content: string | null
  /** Parent directories that do not exist yet, outermost first. */
  missingDirs: string[]
}

export interface LinkSettings {
  dns: string[]
  domains: string[]
}

export interface NrptRule {
  namespace: string
  nameServers: string[]
}

export interface Observed {
  files: Record<string, ObservedFile>
  /** The network link that holds the DNS address (resolved mechanisms). */
  link?: string
  /** False when no link holds the address and docker0 was assumed. */
  linkFound?: boolean
  /** The link's current settings; null when the link does not exist. */
  linkSettings?: LinkSettings | null
  /** The content of highway's resolvconf record; null when there is none. */
  resolvconfRecord?: string | null
  /** highway's NRPT rules (found by their Comment). */
  nrptRules?: NrptRule[]
}

export async function observeFiles(rootFs: RootFs, paths: string[]): Promise<Record<string, ObservedFile>> {
  const files: Record<string, ObservedFile> = {}
  for (const path of paths) files[path] = {content: await rootFs.read(path), missingDirs: await rootFs.missingDirs(path)}
  return files
}

/** Which interface holds `ip` (from `ip -o -4 addr show`); docker0 when none says so. */
export async function findLink(ctx: ResolverContext, ip: string): Promise<{link: string; found: boolean}> {
  const result = await ctx.runner.run(IP_ADDRESSES.cmd, IP_ADDRESSES.args)
  if (result.code === 0) {
    for (const line of result.stdout.split('\n')) {
      const match = /^\d+:\s+(\S+?)(?:@\S+)?\s+inet\s+([\d.]+)\//.exec(line)
      if (match && match[2] === ip) return {link: match[1], found: true}
    }
  }
  return {link: 'docker0', found: false}
}

/** "Link 5 (docker0): 172.17.0.1 10.0.0.1" -> ["172.17.0.1", "10.0.0.1"] */
export function parseLinkValues(stdout: string): string[] {
  const line = stdout.split('\n').find((candidate) => candidate.includes('):')) ?? ''
  const values = line.slice(line.indexOf('):') + 2).trim()
  return values === '' ? [] : values.split(/\s+/)
}

export async function linkSettings(ctx: ResolverContext, link: string): Promise<LinkSettings | null> {
  const values: string[][] = []
  for (const step of [resolvectlShow('dns', link), resolvectlShow('domain', link)]) {
    const result = await ctx.runner.run(step.cmd, step.args)
    if (result.code !== 0) {
      if (/resolve interface|no such device|unknown interface|not found/i.test(result.stderr)) return null
      throw new UserError(`\`${formatCommand(step.cmd, step.args)}\` failed (exit ${result.code}): ${result.stderr.trim() || 'no message'}`, {
        suggestion: 'is systemd-resolved running? (`systemctl status systemd-resolved`)',
      })
    }
    values.push(parseLinkValues(result.stdout))
  }
  return {dns: values[0], domains: values[1]}
}

export function resolvconfRecordPath(mechanism: Mechanism): string {
  return mechanism === 'openresolv' ? `/run/resolvconf/interfaces/${RESOLVCONF_INTERFACE}` : `/run/resolvconf/interface/${RESOLVCONF_INTERFACE}`
}

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

export async function nrptRules(ctx: ResolverContext): Promise<NrptRule[]> {
  const step = nrptList()
  const result = await ctx.runner.run(step.cmd, step.args)
  if (result.code !== 0) {
    throw new UserError(`cannot read the Name Resolution Policy Table (exit ${result.code}): ${result.stderr.trim() || 'no message'}`, {
      suggestion: 'run from an Administrator PowerShell on Windows 8 / Server 2012 or later',
    })
  }
  return parseNrptRules(result.stdout)
}
