import {Flags} from '@oclif/core'
import {HighwayCommand} from '../cli/base-command.js'
import {colour} from '../cli/output.js'
import {runJoinFile, type JoinFileResult} from '../infra/join.js'

export default class JoinFile extends HighwayCommand {
  static summary = "Let another host use this host's etcd: write the one file its `highway up --join` needs"
  static description =
    'Run on the host that runs etcd (after `highway up --advertise-ip ADDRESS`). Makes a new host id, its certificate and its etcd user, ' +
    'which may write only that host’s own records, and writes them with the CA certificate and the etcd address to FILE (mode 0600). ' +
    'Carry FILE to the other host like a key, and run `highway up --join FILE` there. One file per host.'

  static examples = ['<%= config.bin %> join-file --out host-b.join']
  static enableJsonFlag = true

  static flags = {
    out: Flags.string({description: 'file to write (must not exist)', required: true}),
  }

  async run(): Promise<JoinFileResult> {
    const {flags} = await this.parse(JoinFile)
    const result = await runJoinFile(this.clients, flags.out)
    this.log(colour.green(`wrote ${result.path}: host ${result.hostId} (etcd user ${result.user}), etcd at ${result.endpoints.join(', ')}`))
    this.log(`on the other host: highway up --join ${result.path}`)
    return result
  }
}
