/**
 * How does this machine resolve names? One Detection, described in one line. On Linux the facts
 * (where /etc/resolv.conf leads and what its header says, NetworkManager's DNS mode, nsswitch.conf,
 * the WSL markers) are read once, then each mechanism's detector is asked in table order; macOS
 * and Windows each have one mechanism highway uses.
 */
import {UserError} from '../core/errors.js'
import type {LinuxFacts} from './mechanism.js'
import {mechanismsOf} from './mechanisms/index.js'
import {networkManagerInfo} from './networkmanager.js'
import {hostsLineOf} from './nsswitch.js'
import {RESOLV_CONF, headerComment, parseNameservers} from './resolv-file.js'
import {RootFs} from './root-fs.js'
import type {Detection, ResolvConfInfo, ResolverContext} from './types.js'

export async function detect(ctx: ResolverContext, rootFs = new RootFs(ctx.root, ctx.fs)): Promise<Detection> {
  if (ctx.platform !== 'linux') {
    const [only] = mechanismsOf(ctx.platform)
    const {description} = await only.detect(ctx, rootFs)
    return {platform: ctx.platform, mechanism: only.name, description, nsswitchHosts: null, warnings: []}
  }
  return detectLinux(ctx, rootFs)
}

async function readResolvConf(rootFs: RootFs): Promise<ResolvConfInfo> {
  const kind = await rootFs.kind(RESOLV_CONF)
  if (kind === 'missing') {
    throw new UserError(`${RESOLV_CONF} does not exist: this machine has no resolver configuration to add highway's DNS to`, {
      suggestion: 'create it (e.g. let your network manager write it, or write `nameserver <your DNS server>` into it), then rerun',
    })
  }
  if (kind === 'dir' || kind === 'other') {
    throw new UserError(`${RESOLV_CONF} is not a regular file (it is a ${kind === 'dir' ? 'directory' : 'special file'})`, {
      suggestion: 'it should be a file or a symlink to one: fix it by hand, then rerun',
    })
  }
  const {links, target} = await rootFs.followLinks(RESOLV_CONF)
  const targetKind = await rootFs.kind(target)
  if (targetKind === 'dir') throw new UserError(`${RESOLV_CONF} leads to ${target}, which is a directory, not a file`)
  const content = targetKind === 'missing' ? null : await rootFs.read(target)
  return {path: RESOLV_CONF, links, target, content, nameservers: parseNameservers(content ?? '')}
}

async function wslState(ctx: ResolverContext, rootFs: RootFs): Promise<{isWsl: boolean; generates: boolean}> {
  const version = (await rootFs.read('/proc/version')) ?? ''
  const isWsl = Boolean(ctx.env.WSL_DISTRO_NAME || ctx.env.WSL_INTEROP) || /microsoft/i.test(version)
  if (!isWsl) return {isWsl, generates: false}
  const wslConf = (await rootFs.read('/etc/wsl.conf')) ?? ''
  let section = ''
  let generates = true
  for (const raw of wslConf.split('\n')) {
    const line = raw.replace(/#.*/, '').trim()
    const header = /^\[(.+)\]$/.exec(line)
    if (header) section = header[1].trim().toLowerCase()
    const pair = /^generateResolvConf\s*=\s*(\S+)/i.exec(line)
    if (pair && section === 'network') generates = !/^(false|no|0)$/i.test(pair[1])
  }
  return {isWsl, generates}
}

async function detectLinux(ctx: ResolverContext, rootFs: RootFs): Promise<Detection> {
  const nsswitchHosts = hostsLineOf(await rootFs.read('/etc/nsswitch.conf'))
  const resolvConf = await readResolvConf(rootFs)
  const facts: LinuxFacts = {
    ctx,
    rootFs,
    resolvConf,
    header: headerComment(resolvConf.content ?? ''),
    wsl: await wslState(ctx, rootFs),
    networkManager: await networkManagerInfo(ctx, rootFs),
  }
  for (const candidate of mechanismsOf('linux')) {
    if (resolvConf.content === null && !candidate.readsDanglingResolvConf) throw dangling(resolvConf.target)
    const found = await candidate.detect(facts)
    if (found) {
      const base = {platform: 'linux' as const, resolvConf, networkManager: facts.networkManager, nsswitchHosts, warnings: [] as string[]}
      return {...base, mechanism: candidate.name, ...found}
    }
  }
  throw new Error('no Linux mechanism answered; the last one in the table must always answer')
}

function dangling(target: string): UserError {
  const resolved = target.startsWith('/run/systemd/resolve/')
  return new UserError(`${RESOLV_CONF} points at ${target}, which does not exist${resolved ? ': systemd-resolved is not running' : ''}`, {
    suggestion: resolved
      ? 'start it (`sudo systemctl enable --now systemd-resolved`) or point /etc/resolv.conf at a real file, then rerun'
      : 'point /etc/resolv.conf at a file that exists, then rerun',
  })
}
