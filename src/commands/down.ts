import {Flags} from '@oclif/core'
import {HighwayCommand} from '../cli/base-command.js'
import {runDown, type DownResult} from '../infra/down.js'

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
    const result = await runDown(await this.clients.docker(), {keepImages: flags['keep-images'], purge: flags.purge})
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
