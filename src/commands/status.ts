import {HighwayCommand} from '../cli/base-command.js'
import {colour, table} from '../cli/output.js'
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
    if (status.cluster) {
      const {lease, members} = status.cluster
      this.log(
        `\netcd cluster: ${members.length} member${members.length === 1 ? '' : 's'}, ` +
          `leader ${members.find((member) => member.leader)?.name || 'none'}; this host (${status.hostId}${status.advertiseIp ? ` on ${status.advertiseIp}` : ''}): ` +
          (lease ? `lease ${lease.id}, ${lease.ttl} s left of ${lease.grantedTtl} s` : colour.red('no lease (its agent holds no records)')),
      )
      this.log(
        table(
          ['MEMBER', 'ROLE', 'HEALTH', 'CLIENT', 'PEER'],
          members.map((member) => [
            member.name || '(not started)',
            member.leader ? 'leader' : member.learner ? 'learner' : 'follower',
            member.ok ? colour.green(member.health) : colour.red(member.health),
            member.clientUrls.join(','),
            member.peerUrls.join(','),
          ]),
        ),
      )
    }
    return status
  }
}
