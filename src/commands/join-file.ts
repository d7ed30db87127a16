import {Flags} from '@oclif/core'
import {HighwayCommand} from '../cli/base-command.js'
import {colour} from '../cli/output.js'
import {runJoinFile, type JoinFileResult} from '../infra/join.js'

export default class JoinFile extends HighwayCommand {
  static summary = "Let another host use this host's etcd: write the one file its `highway up --join` needs"
  static description =
    'Run on the host that runs etcd (after `highway up --advertise-ip ADDRESS`). Makes a new host id, its certificate and its etcd user, ' +
    'which may write only that host’s own records, and writes them with the CA certificate and the etcd address to FILE (mode 0600). ' +
    'Carry FILE to the other host like a key, and run `highway up --join FILE` there. One file per host. ' +
    'With the new host’s --advertise-ip, while the cluster has fewer than three members, the file also makes that host an etcd member ' +
    '(its certificate for that address, and root’s, for etcd’s member API), so the registry survives losing any one host.'

  static examples = ['<%= config.bin %> join-file --out host-b.join --advertise-ip 10.0.0.6', '<%= config.bin %> join-file --out host-d.join   # a client only']
  static enableJsonFlag = true

  static flags = {
    out: Flags.string({description: 'file to write (must not exist)', required: true}),
    'advertise-ip': Flags.string({description: 'the new host’s address for the other hosts: it runs an etcd member while the cluster has fewer than 3'}),
    member: Flags.boolean({allowNo: true, description: 'an etcd member whatever the cluster’s size (--no-member: a client only)'}),
  }

  async run(): Promise<JoinFileResult> {
    const {flags} = await this.parse(JoinFile)
    const result = await runJoinFile(this.clients, flags.out, {advertiseIp: flags['advertise-ip'], member: flags.member})
    this.log(colour.green(`wrote ${result.path}: host ${result.hostId} (etcd user ${result.user}), etcd at ${result.endpoints.join(', ')}`))
    if (result.member) this.log(`it also runs etcd member ${result.members + 1} of the cluster, on ${result.member}`)
    else if (result.members < 3) this.log(`a client only: give --advertise-ip to make the new host an etcd member too (the cluster has ${result.members})`)
    this.log(`on the other host: highway up --join ${result.path}${result.member ? '' : ' --advertise-ip ADDRESS'}`)
    return result
  }
}
