import {HighwayCommand} from '../cli/base-command.js'
import {colour, table} from '../cli/output.js'
import {loadSettings} from '../core/settings.js'
import {listServices, type ServiceRow} from '../service/list.js'

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
    this.log(
      table(
        ['NAME', 'URL', 'BACKEND', 'CONTAINER', 'HOST', 'STATE'],
        rows.map((row) => [row.name, row.url, row.backend, row.container, row.host, state(row)]),
      ),
    )
    return rows
  }
}
