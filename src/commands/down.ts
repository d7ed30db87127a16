import {Flags} from '@oclif/core'
import {HighwayCommand} from '../cli/base-command.js'
import {loadSettings} from '../core/settings.js'
import {leaveCluster, runDown, type DownResult} from '../infra/down.js'

export default class Down extends HighwayCommand {
  static summary = "Remove highway's containers (etcd's data stays unless --purge)"
  static examples = ['<%= config.bin %> down', '<%= config.bin %> down --purge', '<%= config.bin %> down --purge --keep-images']
  static enableJsonFlag = true
  static flags = {
    purge: Flags.boolean({description: "also remove etcd's data volume (every registration is lost) and highway's images"}),
    'keep-images': Flags.boolean({dependsOn: ['purge'], description: "with --purge, keep highway's images: the next up starts without a build"}),
  }

  async run(): Promise<DownResult> {
    const {flags} = await this.parse(Down)
    const docker = await this.clients.docker()
    // A cluster that does not answer must not keep this host's containers up: they go, the member stays listed.
    const leftCluster = await leaveCluster(this.clients, loadSettings(this.clients.env)).catch((error: Error) => {
      this.warn(`this host's etcd member stays in the cluster: ${error.message}`)
      return undefined
    })
    const result = await runDown(docker, {keepImages: flags['keep-images'], leftCluster, purge: flags.purge})
    if (leftCluster) this.log(`removed etcd member ${leftCluster.member} from the cluster; this host now uses ${leftCluster.endpoints.join(', ')}`)
    if (result.containers.length === 0 && result.volumes.length === 0 && result.networks.length === 0 && result.images.length === 0) {
      this.log('nothing to remove: highway is not running')
    } else {
      if (result.containers.length > 0) this.log(`removed ${result.containers.join(', ')}`)
      if (result.volumes.length > 0) this.log(`removed volume ${result.volumes.join(', ')}`)
      if (result.networks.length > 0) this.log(`removed network ${result.networks.join(', ')}`)
      if (result.images.length > 0) this.log(`removed image${result.images.length > 1 ? 's' : ''} ${result.images.join(', ')}`)
    }
    return result
  }
}
