/** Pieces more than one mechanism plans or verifies with. */
import type {Hop} from '../mechanism.js'
import {RESOLV_CONF, parseNameservers} from '../resolv-file.js'
import {RootFs} from '../root-fs.js'
import type {FileChange, ResolverContext} from '../types.js'

export const isString = (value: unknown): value is string => typeof value === 'string'
export const isStringArray = (value: unknown): value is string[] => Array.isArray(value) && value.every(isString)
export const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null

/** A file highway creates and owns outright, saying so at its top. */
export function ownedFileContent(domain: string, line: string): string {
  return `# Added by highway dns-setup: names under .${domain} go to highway's DNS. \`highway dns-setup --undo\` removes this file.\n${line}\n`
}

/** The change from `before` to `after`, none when they are equal. */
export function fileChange(path: string, before: string | null, after: string, createDirs: string[], reason: string): FileChange[] {
  if (before === after) return []
  return [{path, action: before === null ? 'create' : 'edit', before, after, createDirs: before === null ? createDirs : [], reason}]
}

/** The first nameserver of /etc/resolv.conf as it is now. */
export async function firstNameserver(ctx: ResolverContext): Promise<string | undefined> {
  return parseNameservers((await new RootFs(ctx.root, ctx.fs).read(RESOLV_CONF)) ?? '')[0]
}

/** For mechanisms that put highway's DNS first in /etc/resolv.conf: is it still first? */
export async function firstNameserverHop(ctx: ResolverContext, dnsIp: string): Promise<Hop[]> {
  const first = await firstNameserver(ctx)
  return [
    first === dnsIp
      ? {hop: RESOLV_CONF, ok: true, detail: `${dnsIp} is its first nameserver`}
      : {
          hop: RESOLV_CONF,
          ok: false,
          detail: `${dnsIp} is not the first nameserver in ${RESOLV_CONF} (the first is ${first ?? 'none'}): something rewrote it; rerun \`sudo highway dns-setup\``,
        },
  ]
}
