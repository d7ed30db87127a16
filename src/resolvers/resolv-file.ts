/**
 * Reading and editing resolv.conf text. highway's only edit of a shared resolv.conf is one marked
 * line, placed before the first nameserver, so it can always be found and removed again.
 */

import type {ResolvConfInfo} from './types.js'

export const RESOLV_CONF = '/etc/resolv.conf'

const MARKER = '# added by highway dns-setup'

/** glibc reads at most this many nameserver lines (MAXNS). */
export const GLIBC_MAXNS = 3

export function markedLine(ip: string): string {
  return `nameserver ${ip} ${MARKER}`
}

function isMarked(line: string): boolean {
  return /^\s*nameserver\s/.test(line) && line.trimEnd().endsWith(MARKER)
}

/** The nameserver addresses, in order, as glibc reads them (a `#` or `;` ends the address). */
export function parseNameservers(content: string): string[] {
  const servers: string[] = []
  for (const line of content.split('\n')) {
    const match = /^nameserver[ \t]+([^\s#;]+)/.exec(line)
    if (match) servers.push(match[1])
  }
  return servers
}

/** The nameservers for people: highway's own marked as such. */
export function describeNameservers(content: string): string[] {
  return content
    .split('\n')
    .filter((line) => /^nameserver[ \t]/.test(line))
    .map((line) => `${parseNameservers(line)[0] ?? '?'}${isMarked(line) ? " (highway's)" : ''}`)
}

/** The comment block at the top of the file, where tools say they manage it. */
export function headerComment(content: string): string {
  const lines: string[] = []
  for (const line of content.split('\n')) {
    if (!/^\s*[#;]/.test(line)) break
    lines.push(line)
  }
  return lines.join('\n')
}

/** `content` with highway's marked line as its first nameserver (any older marked line moved there). */
export function withHighwayLine(content: string, ip: string): string {
  const lines = withoutHighwayLine(content).content.split('\n')
  const first = lines.findIndex((line) => /^\s*nameserver\s/.test(line))
  if (first >= 0) {
    lines.splice(first, 0, markedLine(ip))
    return lines.join('\n')
  }
  const text = lines.join('\n')
  if (text === '') return `${markedLine(ip)}\n`
  return `${text}${text.endsWith('\n') ? '' : '\n'}${markedLine(ip)}\n`
}

/** `content` without highway's marked line(s); nothing else changes. */
export function withoutHighwayLine(content: string): {content: string; removed: number} {
  const lines = content.split('\n')
  const kept = lines.filter((line) => !isMarked(line))
  return {content: kept.join('\n'), removed: lines.length - kept.length}
}

/** "/etc/resolv.conf -> /run/...", or that it is a regular file. */
export function arrow(info: ResolvConfInfo): string {
  return info.links.length > 0 ? `${info.path} -> ${info.target}` : `${info.path} is a regular file`
}
