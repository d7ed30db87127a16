import {HighwayCommand} from '../cli/base-command.js'
import {colour, table} from '../cli/output.js'
import {loadSettings} from '../core/settings.js'
import {collectStatus, type Status} from '../infra/status.js'

export default class StatusCommand extends HighwayCommand {
  static summary = 'Show each highway component: container state, health, address, image'
  static examples = ['<%= config.bin %> status', '<%= config.bin %> status --json']
  static enableJsonFlag = true

  async run(): Promise<Status> {
    await this.parse(StatusCommand)
    const settings = loadSettings()
    const status = await collectStatus(this.clients, settings)
    this.log(`domain ${settings.domain}, bridge ${settings.bridgeIp || '(not set: run highway up)'}`)
    this.log(
      table(
        ['COMPONENT', 'STATE', 'HEALTH', 'ADDRESS', 'IMAGE'],
        status.components.map((component) => [
          component.component,
          component.state,
          component.ok ? colour.green(component.health) : colour.red(component.health),
          component.address,
          component.image ?? '-',
        ]),
      ),
    )
    return status
  }
}
