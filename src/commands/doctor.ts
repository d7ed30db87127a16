import {resolve} from 'node:path'
import {Flags} from '@oclif/core'
import {HighwayCommand} from '../cli/base-command.js'
import {colour} from '../cli/output.js'
import {loadSettings} from '../core/settings.js'
import {runDoctor} from '../doctor/checks.js'
import {renderReport, type DoctorReport} from '../doctor/report.js'

export default class Doctor extends HighwayCommand {
  static summary = 'Check every hop a request takes through highway, and say how to fix the first that fails'
  static description =
    'In order: the Docker engine, highway’s containers and their health, the bridge address and who holds its ports 53 and 80, ' +
    'the OS resolver (mechanism, dns-setup, .local traps), a name resolved and fetched from this host and from a container started ' +
    'like `highway run`, the route agent (connected, lag behind Docker, last reconcile) and the registry. Exits non-zero when a check fails.'

  static examples = ['<%= config.bin %> doctor', '<%= config.bin %> doctor --json']
  static enableJsonFlag = true

  static flags = {
    root: Flags.string({hidden: true, default: '/', description: 'treat this directory as / in the resolver checks (tests)'}),
  }

  async run(): Promise<DoctorReport> {
    const {flags} = await this.parse(Doctor)
    const report = await runDoctor(this.clients, loadSettings(), {root: resolve(flags.root)})
    const paint = {fail: colour.red, ok: colour.green, skip: colour.dim, warn: colour.yellow}
    for (const line of renderReport(report, paint)) this.log(line)
    if (!report.ok) process.exitCode = 1
    return report
  }
}
