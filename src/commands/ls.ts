import {HighwayCommand} from '../cli/base-command.js'
import {lsLines} from '../cli/render.js'
import {loadSettings} from '../core/settings.js'
import {listServices, type ServiceRow} from '../service/list.js'

export default class Ls extends HighwayCommand {
  static summary = 'List registered services: name, URL, backend, container, state'
  static examples = ['<%= config.bin %> ls', '<%= config.bin %> ls --json']
  static enableJsonFlag = true

  async run(): Promise<ServiceRow[]> {
    await this.parse(Ls)
    const rows = await listServices(this.clients, loadSettings())
    for (const line of lsLines(rows)) this.log(line)
    return rows
  }
}
