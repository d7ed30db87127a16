/**
 * NetworkManager's DNS mode ([main] dns= and rc-manager=): from `NetworkManager --print-config`
 * when it answers, else from its configuration files merged in NetworkManager's own order
 * (NetworkManager.conf, then conf.d snippets from /usr/lib, /run and /etc, later ones winning).
 */
import {posix} from 'node:path'
import {NM_PRINT_CONFIG} from './commands.js'
import type {RootFs} from './root-fs.js'
import type {NetworkManagerInfo, ResolverContext} from './types.js'

/** The keys of the [main] section, later assignments winning. */
export function parseMainSection(text: string, into: Record<string, string> = {}): Record<string, string> {
  let section = ''
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const header = /^\[(.+)\]$/.exec(line)
    if (header) {
      section = header[1].trim()
      continue
    }
    const pair = /^([^=]+?)\s*=\s*(.*)$/.exec(line)
    if (pair && section === 'main') into[pair[1]] = pair[2]
  }
  return into
}

const CONF_DIRS = ['/usr/lib/NetworkManager/conf.d', '/run/NetworkManager/conf.d', '/etc/NetworkManager/conf.d']

async function fromFiles(rootFs: RootFs): Promise<Record<string, string> | undefined> {
  const main = await rootFs.read('/etc/NetworkManager/NetworkManager.conf')
  // A snippet in /etc overrides one of the same name in /run or /usr/lib; all are read in name order.
  const snippets = new Map<string, string>()
  for (const dir of CONF_DIRS) {
    for (const name of await rootFs.list(dir)) if (name.endsWith('.conf')) snippets.set(name, posix.join(dir, name))
  }
  if (main === null && snippets.size === 0) return undefined
  const values = parseMainSection(main ?? '')
  for (const name of [...snippets.keys()].sort()) parseMainSection((await rootFs.read(snippets.get(name)!)) ?? '', values)
  return values
}

/** undefined when NetworkManager is not installed. */
export async function networkManagerInfo(ctx: ResolverContext, rootFs: RootFs): Promise<NetworkManagerInfo | undefined> {
  const installed =
    (await rootFs.exists('/etc/NetworkManager')) || (await rootFs.exists('/usr/sbin/NetworkManager')) || (await rootFs.exists('/usr/bin/NetworkManager'))
  if (!installed) return undefined
  const printed = await ctx.runner.run(NM_PRINT_CONFIG.cmd, NM_PRINT_CONFIG.args)
  let values: Record<string, string> | undefined
  let source = 'NetworkManager --print-config'
  if (printed.code === 0 && printed.stdout.includes('[main]')) {
    values = parseMainSection(printed.stdout)
  } else {
    values = await fromFiles(rootFs)
    source = '/etc/NetworkManager'
  }
  if (!values) return undefined
  return {dns: values.dns?.trim() || 'default', rcManager: values['rc-manager']?.trim() || undefined, source}
}
