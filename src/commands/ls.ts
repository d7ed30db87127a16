import {HighwayCommand} from '../cli/base-command.js'
import {colour, table} from '../cli/output.js'
import {loadSettings} from '../core/settings.js'
import {shown} from '../registry/schema.js'
import {listServices, type ServiceRow} from '../service/list.js'

/** Keys and reasons come from etcd: anything but plain printable text is shown escaped. */
const printable = (text: string) => (/^[\x20-\x7e]*$/.test(text) ? text : shown(text, 160))

export default class Ls extends HighwayCommand {
  static summary = 'List registered services: name, URL, backend, container, state'
  static examples = ['<%= config.bin %> ls', '<%= config.bin %> ls --json']
  static enableJsonFlag = true

  async run(): Promise<ServiceRow[]> {
    await this.parse(Ls)
    const rows = await listServices(this.clients, loadSettings())
    if (rows.length === 0) {
      this.log(`no services registered; start one with \`highway run -d --name api -p 9090 IMAGE\``)
      return rows
    }
    const state = (row: ServiceRow) =>
      row.problem
        ? colour.yellow(`${row.state} (${row.problem})`)
        : row.state === 'running'
          ? colour.green(row.role === 'replica' ? `${row.state} (replica of ${row.owner})` : row.state)
          : colour.red(row.state)
    const services = rows.filter((row) => row.state !== 'invalid')
    const invalid = rows.filter((row) => row.state === 'invalid')
    if (services.length > 0) {
      this.log(
        table(
          ['NAME', 'URL', 'BACKEND', 'CONTAINER', 'HOST', 'STATE'],
          services.map((row) => [row.name, row.url, row.backend, row.container, row.host, state(row)]),
        ),
      )
    }
    if (invalid.length > 0) {
      if (services.length > 0) this.log('')
      this.log(colour.yellow(`${invalid.length} invalid record(s) in etcd, skipped by the proxy:`))
      this.log(
        table(
          ['KEY', 'PROBLEM'],
          invalid.map((row) => [printable(row.key ?? '-'), colour.red(printable(row.problem ?? ''))]),
        ),
      )
    }
    return rows
  }
}
