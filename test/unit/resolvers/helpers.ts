/**
 * Scratch roots laid out like a machine of each kind (from test/fixtures/resolvers), a snapshot of
 * everything under them, and FakeSystem: a command runner that records every command and behaves
 * like the real programs closely enough to be asked again (resolvectl keeps per-link settings,
 * resolvconf writes its record under /run, the NRPT keeps its rules).
 */
import {cpSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync, existsSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {formatCommand} from '../../../src/resolvers/runner.js'
import type {Line} from '../../../src/resolvers/render.js'
import type {CommandResult, CommandRunner, Platform, ResolverContext} from '../../../src/resolvers/types.js'

export const FIXTURES = resolve(import.meta.dirname, '..', '..', 'fixtures', 'resolvers')

export function fixture(...parts: string[]): string {
  return readFileSync(join(FIXTURES, ...parts), 'utf8')
}

export interface Layout {
  /** Copy test/fixtures/resolvers/<fixture>/root into the scratch root. */
  fixture?: string
  /** Symlinks to create: path -> target (as `ln -s target path`). */
  links?: Record<string, string>
  /** Empty directories to create. */
  dirs?: string[]
  files?: Record<string, string>
}

export function makeRoot(layout: Layout = {}): string {
  const root = mkdtempSync(join(tmpdir(), 'highway-resolvers-'))
  if (layout.fixture) cpSync(join(FIXTURES, layout.fixture, 'root'), root, {recursive: true})
  for (const dir of layout.dirs ?? []) mkdirSync(join(root, dir), {recursive: true})
  for (const [path, content] of Object.entries(layout.files ?? {})) {
    mkdirSync(dirname(join(root, path)), {recursive: true})
    writeFileSync(join(root, path), content)
  }
  for (const [path, target] of Object.entries(layout.links ?? {})) {
    mkdirSync(dirname(join(root, path)), {recursive: true})
    symlinkSync(target, join(root, path))
  }
  return root
}

export function removeRoot(root: string): void {
  rmSync(root, {recursive: true, force: true})
}

/** Every entry under root: files with mode and exact content, symlinks with their target, directories. */
export function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name)
      const key = `${rel}/${name}`
      const stat = lstatSync(path)
      if (stat.isSymbolicLink()) out[key] = `link -> ${readlinkSync(path)}`
      else if (stat.isDirectory()) {
        out[key] = `dir ${(stat.mode & 0o7777).toString(8)}`
        walk(path, key)
      } else out[key] = `file ${(stat.mode & 0o7777).toString(8)}\n${readFileSync(path, 'utf8')}`
    }
  }
  walk(root, '')
  return out
}

/** The snapshot without highway's own state directory. */
export function machineFiles(root: string): Record<string, string> {
  return Object.fromEntries(Object.entries(snapshot(root)).filter(([key]) => !/^\/(var|ProgramData)(\/|$)/.test(key)))
}

export function read(root: string, path: string): string {
  return readFileSync(join(root, path), 'utf8')
}

export function write(root: string, path: string, content: string): void {
  mkdirSync(dirname(join(root, path)), {recursive: true})
  writeFileSync(join(root, path), content)
}

export function exists(root: string, path: string): boolean {
  return existsSync(join(root, path))
}

export interface NrptRuleState {
  namespace: string
  nameServers: string[]
  comment: string
}

export interface FakeOptions {
  root: string
  /** `ip -o -4 addr show`; default: the fixture with docker0 holding 172.17.0.1. */
  ipAddr?: string
  /** `ip -o -4 route get ADDRESS`; default: no route (exit 2). */
  ipRoute?: string
  /** `NetworkManager --print-config`; absent: the program is "not installed" (exit 127). */
  nmPrintConfig?: string
  /** Where resolvconf keeps records: Debian's `interface`, openresolv's `interfaces`. */
  resolvconfDir?: 'interface' | 'interfaces'
  /** `scutil --dns`, computed when asked. */
  scutil?: (fake: FakeSystem) => string
  /** What the OS's own resolver answers for a name (getent, dscacheutil, Resolve-DnsName, resolvectl query). */
  resolves?: (fake: FakeSystem, name: string) => string[]
  /** Return a result to make a command fail (or answer differently) before the fake handles it. */
  fault?: (cmd: string, args: string[]) => CommandResult | undefined
}

const ok = (stdout = ''): CommandResult => ({code: 0, stdout, stderr: ''})

export class FakeSystem implements CommandRunner {
  /** Every command, as typed. */
  readonly calls: string[] = []
  /** Only the commands that change something. */
  changes: string[] = []
  links = new Map<string, {index: number; dns: string[]; domains: string[]}>([
    ['lo', {index: 1, dns: [], domains: []}],
    ['wlp3s0', {index: 2, dns: ['192.168.1.1'], domains: ['lan']}],
    ['docker0', {index: 5, dns: [], domains: []}],
  ])
  nrpt: NrptRuleState[] = []

  constructor(readonly options: FakeOptions) {}

  /** The runtime state, to compare before and after. */
  runtime(): unknown {
    return {
      links: [...this.links.entries()].map(([name, link]) => [name, {...link, dns: [...link.dns], domains: [...link.domains]}]),
      nrpt: this.nrpt.map((rule) => ({...rule})),
    }
  }

  private change(cmd: string, args: string[], input?: string): void {
    this.changes.push(formatCommand(cmd, args) + (input === undefined ? '' : ` <<< ${JSON.stringify(input)}`))
  }

  private answer(name: string): string[] {
    return this.options.resolves?.(this, name) ?? []
  }

  async run(cmd: string, args: string[], input?: string): Promise<CommandResult> {
    this.calls.push(formatCommand(cmd, args))
    const fault = this.options.fault?.(cmd, args)
    if (fault) return fault
    switch (cmd) {
      case 'ip':
        if (args.includes('route'))
          return this.options.ipRoute ? ok(this.options.ipRoute) : {code: 2, stdout: '', stderr: 'RTNETLINK answers: Network is unreachable'}
        return ok(this.options.ipAddr ?? fixture('commands', 'ip-addr.txt'))
      case 'resolvectl':
        return this.resolvectl(args)
      case 'resolvconf':
        return this.resolvconf(args, input)
      case 'NetworkManager':
        return this.options.nmPrintConfig ? ok(this.options.nmPrintConfig) : {code: 127, stdout: '', stderr: 'NetworkManager: not found'}
      case 'nmcli':
      case 'systemctl':
        this.change(cmd, args)
        return ok()
      // Windows' programs only by their full system path (SystemRoot C:\Windows): a bare name found on PATH is "not found".
      case 'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe':
        return this.powershell(cmd, args)
      case 'C:\\Windows\\System32\\icacls.exe':
        this.change(cmd, args)
        return ok()
      case 'getent': {
        const addresses = this.answer(args[1])
        return addresses.length > 0 ? ok(addresses.map((address) => `${address}      ${args[1]}\n`).join('')) : {code: 2, stdout: '', stderr: ''}
      }
      case 'dscacheutil': {
        const addresses = this.answer(args[4])
        return ok(addresses.length > 0 ? `name: ${args[4]}\n${addresses.map((address) => `ip_address: ${address}\n`).join('')}\n` : '')
      }
      case 'scutil':
        return ok(this.options.scutil?.(this) ?? '')
      default:
        return {code: 127, stdout: '', stderr: `${cmd}: not found`}
    }
  }

  private resolvectl(args: string[]): CommandResult {
    const [verb, linkName, ...values] = args
    if (verb === 'query') {
      // resolved itself (no nsswitch in between): a link whose routing domain matches answers.
      const name = args.at(-1)!
      const route = [...this.links.values()].find(
        (candidate) => candidate.dns.length > 0 && candidate.domains.some((domain) => domain.startsWith('~') && name.endsWith(`.${domain.slice(1)}`)),
      )
      const addresses = route ? [route.dns[0]] : []
      return addresses.length > 0
        ? ok(`${name}: ${addresses.join(' ')} -- link: docker0\n`)
        : {code: 1, stdout: '', stderr: `${name}: resolve call failed: '${name}' not found\n`}
    }
    const link = this.links.get(linkName)
    if (!link) return {code: 1, stdout: '', stderr: `Failed to resolve interface "${linkName}": No such device\n`}
    if (verb === 'revert') {
      link.dns = []
      link.domains = []
      this.change('resolvectl', args)
      return ok()
    }
    if (verb === 'dns' || verb === 'domain') {
      const key = verb === 'dns' ? 'dns' : 'domains'
      if (values.length === 0) return ok(`Link ${link.index} (${linkName}):${link[key].length > 0 ? ` ${link[key].join(' ')}` : ''}\n`)
      link[key] = values.filter((value) => value !== '')
      this.change('resolvectl', args)
      return ok()
    }
    return {code: 1, stdout: '', stderr: `Unknown command verb ${verb}.`}
  }

  recordPath(name: string): string {
    return join(this.options.root, 'run', 'resolvconf', this.options.resolvconfDir ?? 'interface', name)
  }

  private resolvconf(args: string[], input?: string): CommandResult {
    const [flag, name] = args
    if (flag === '-a') {
      mkdirSync(dirname(this.recordPath(name)), {recursive: true})
      writeFileSync(this.recordPath(name), input ?? '')
    } else if (flag === '-d') {
      rmSync(this.recordPath(name), {force: true})
    } else {
      return {code: 1, stdout: '', stderr: `resolvconf: unknown option ${flag}`}
    }
    this.change('resolvconf', args, input)
    return ok()
  }

  private powershell(cmd: string, args: string[]): CommandResult {
    if (args.slice(0, 3).join(' ') !== '-NoProfile -NonInteractive -Command') return {code: 1, stdout: '', stderr: 'unexpected powershell arguments'}
    const script = args[3]
    if (script.includes('IsInRole')) return ok('True\r\n')
    if (script.startsWith('Add-DnsClientNrptRule')) {
      const match = /-Namespace '([^']+)' -NameServers (.+) -Comment '([^']+)'$/.exec(script)!
      this.nrpt.push({namespace: match[1], nameServers: match[2].split(',').map((server) => server.replaceAll("'", '')), comment: match[3]})
      this.change(cmd, args)
      return ok()
    }
    if (script.includes('Remove-DnsClientNrptRule')) {
      const comment = /\$_\.Comment -eq '([^']+)'/.exec(script)![1]
      const namespace = /-contains '([^']+)'/.exec(script)![1]
      this.nrpt = this.nrpt.filter((rule) => !(rule.comment === comment && rule.namespace === namespace))
      this.change(cmd, args)
      return ok()
    }
    if (script.startsWith('Get-DnsClientNrptRule')) {
      const comment = /\$_\.Comment -eq '([^']+)'/.exec(script)![1]
      return ok(
        this.nrpt
          .filter((rule) => rule.comment === comment)
          .map((rule) => `${rule.namespace} ${rule.nameServers.join(',')}\r\n`)
          .join(''),
      )
    }
    if (script === 'Clear-DnsClientCache') {
      this.change(cmd, args)
      return ok()
    }
    if (script.startsWith('Resolve-DnsName')) {
      const name = /-Name '([^']+)'/.exec(script)![1]
      const addresses = this.answer(name)
      return addresses.length > 0
        ? ok(addresses.map((address) => `${address}\r\n`).join(''))
        : {code: 1, stdout: '', stderr: `Resolve-DnsName : ${name} : DNS name does not exist`}
    }
    return {code: 1, stdout: '', stderr: `unexpected script: ${script}`}
  }
}

/** highway's DNS, asked directly: answers every name under `domain` with `ip` (what dnsmasq does). */
export function highwayDns(ip: string, domain: string) {
  return async (server: string, name: string): Promise<string[]> => {
    if (server === ip && name.endsWith(`.${domain}`)) return [ip]
    throw Object.assign(new Error(`queryA ECONNREFUSED ${name}`), {code: 'ECONNREFUSED'})
  }
}

export function contextFor(root: string, runner: CommandRunner, platform: Platform = 'linux', extra: Partial<ResolverContext> = {}): ResolverContext {
  return {
    root,
    platform,
    env: {},
    runner,
    getuid: () => 0,
    dnsQuery: highwayDns('172.17.0.1', 'local'),
    now: () => new Date('2025-01-02T03:04:05.000Z'),
    ...extra,
  }
}

/** The command that restricts the Windows state folder of a scratch root, as formatted (the root in Windows form). */
export function icaclsChange(root: string): string {
  const dir = join(root, 'ProgramData', 'highway').replaceAll('/', '\\')
  return `'C:\\Windows\\System32\\icacls.exe' '${dir}' /inheritance:r /grant:r '*S-1-5-32-544:(OI)(CI)F' '*S-1-5-18:(OI)(CI)F'`
}

/** Rendered lines as the command prints them, without colour. */
export function printed(lines: Line[]): string {
  return lines.map((line) => line.text).join('\n')
}
