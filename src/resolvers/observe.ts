/**
 * What is in place right now, for the plan to compare against: the content of the files the plan
 * would write, and the runtime settings only a program can tell (each mechanism's observe hook:
 * resolved's per-link DNS, the resolvconf record, highway's NRPT rules). Reads only; the plan
 * itself stays pure.
 */
import {mechanism} from './mechanisms/index.js'
import {planPaths} from './plan.js'
import type {RootFs} from './root-fs.js'
import type {DnsSetupState} from './state.js'
import type {Detection, ResolverContext} from './types.js'

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
  /** True when no link holds the address and `link` is the one the kernel routes it through. */
  linkRouted?: boolean
  /** The link's current settings; null when the link does not exist. */
  linkSettings?: LinkSettings | null
  /** The content of highway's resolvconf record; null when there is none. */
  resolvconfRecord?: string | null
  /** highway's NRPT rules (found by their Comment). */
  nrptRules?: NrptRule[]
  /** %SystemRoot% (Windows): where the commands the plan runs live. */
  systemRoot?: string
}

async function observeFiles(rootFs: RootFs, paths: string[]): Promise<Record<string, ObservedFile>> {
  const files: Record<string, ObservedFile> = {}
  for (const path of paths) files[path] = {content: await rootFs.read(path), missingDirs: await rootFs.missingDirs(path)}
  return files
}

export async function observeForApply(ctx: ResolverContext, rootFs: RootFs, detection: Detection, domain: string, dnsIp: string): Promise<Observed> {
  const files = await observeFiles(rootFs, planPaths(detection, domain))
  return {files, ...(await mechanism(detection.mechanism).observe?.(ctx, rootFs, detection, dnsIp))}
}

export async function observeForUndo(ctx: ResolverContext, rootFs: RootFs, state: DnsSetupState): Promise<Observed> {
  const files = await observeFiles(
    rootFs,
    state.files.map((entry) => entry.path),
  )
  return {files, ...(await mechanism(state.mechanism).observeUndo?.(ctx, rootFs, state))}
}
