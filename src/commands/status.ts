import {HighwayCommand} from '../cli/base-command.js'
import {statusLines} from '../cli/render.js'
import {loadSettings} from '../core/settings.js'
import {collectStatus, type Status} from '../infra/status.js'

export default class StatusCommand extends HighwayCommand {
  static summary = 'Show each highway component (container state, health, address, image) and the etcd cluster (members, leader, health, this host’s lease)'
  static examples = ['<%= config.bin %> status', '<%= config.bin %> status --json']
  static enableJsonFlag = true

  async run(): Promise<Status> {
    await this.parse(StatusCommand)
    const settings = loadSettings()
    const status = await collectStatus(this.clients, settings)
    for (const line of statusLines(settings, status)) this.log(line)
    return status
  }
}
