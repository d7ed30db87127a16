import {resolve} from 'node:path'
import {Flags} from '@oclif/core'
import {HighwayCommand} from '../cli/base-command.js'
import {colour} from '../cli/output.js'
import {UserError} from '../core/errors.js'
import {hostSideIp, loadSettings} from '../core/settings.js'
import {assertDomain, assertIPv4} from '../core/validate.js'
import {
  applyDnsSetup,
  currentPlatform,
  defaultDnsQuery,
  renderApply,
  renderUndo,
  scratchRunner,
  systemRunner,
  undoDnsSetup,
  type ApplyResult,
  type Line,
  type ResolverContext,
  type UndoResult,
} from '../resolvers/index.js'

export default class DnsSetup extends HighwayCommand {
  static summary = "Make this machine resolve names under highway's domain through highway's DNS"
  static description =
    'Detects how this machine resolves names (systemd-resolved, resolvconf, NetworkManager, a plain /etc/resolv.conf, WSL, ' +
    "macOS /etc/resolver, the Windows NRPT), makes the smallest change that sends the domain to highway's DNS, records it, " +
    'and checks a probe name through the system resolver. `--undo` reverses exactly what was recorded. Needs root.'

  static examples = [
    'sudo <%= config.bin %> dns-setup',
    '<%= config.bin %> dns-setup --dry-run',
    'sudo <%= config.bin %> dns-setup --undo',
    'sudo <%= config.bin %> dns-setup --domain test --dns-ip 172.17.0.1',
  ]

  static enableJsonFlag = true

  static flags = {
    undo: Flags.boolean({description: 'reverse what dns-setup recorded'}),
    'dry-run': Flags.boolean({description: 'print what would change (a diff of each file, each command) and change nothing'}),
    domain: Flags.string({description: "domain to send to highway's DNS [default: the one `highway up` uses]"}),
    'dns-ip': Flags.string({description: "address highway's DNS answers on [default: the bridge address `highway up` uses]"}),
    verify: Flags.boolean({
      allowNo: true,
      description: 'resolve a probe name through the system resolver afterwards [default: on, except with --root]',
    }),
    root: Flags.string({hidden: true, default: '/', description: 'treat this directory as / (tests)'}),
  }

  async run(): Promise<ApplyResult | UndoResult> {
    const {flags} = await this.parse(DnsSetup)
    const root = resolve(flags.root)
    const scratch = root !== '/'
    const ctx: ResolverContext = {
      root,
      platform: currentPlatform(),
      env: process.env,
      // With a scratch root, commands would act on the real machine: they are printed, not run.
      runner: scratch ? scratchRunner((line) => this.log(colour.dim(`not run (--root is a scratch directory): ${line}`))) : systemRunner(),
      dnsQuery: defaultDnsQuery,
    }

    if (flags.undo) {
      const result = await undoDnsSetup(ctx, {dryRun: flags['dry-run']})
      this.print(renderUndo(result))
      return result
    }

    const settings = loadSettings()
    const domain = assertDomain(flags.domain ?? settings.domain)
    const dnsIp = flags['dns-ip'] ? assertIPv4(flags['dns-ip'], '--dns-ip') : hostSideIp(settings)
    if (!dnsIp) {
      throw new UserError('highway does not know its DNS address yet: run `highway up` first', {suggestion: 'or pass --dns-ip <address>'})
    }
    const result = await applyDnsSetup(ctx, {
      domain,
      dnsIp: assertIPv4(dnsIp, 'bridge address'),
      dryRun: flags['dry-run'],
      verify: flags.verify,
      verifyWith: scratch ? {runner: systemRunner(), root: '/'} : undefined,
    })
    this.print(renderApply(result))
    if (result.verify && 'ok' in result.verify && !result.verify.ok) process.exitCode = 2
    return result
  }

  private print(lines: Line[]): void {
    const paint = {info: (text: string) => text, ok: colour.green, warn: colour.yellow}
    for (const line of lines) this.log(paint[line.level](line.text))
  }
}
