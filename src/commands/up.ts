import {Flags} from '@oclif/core'
import {HighwayCommand, interruptible} from '../cli/base-command.js'
import {colour} from '../cli/output.js'
import {UserError} from '../core/errors.js'
import {runUp} from '../infra/up.js'

export default class Up extends HighwayCommand {
  static summary = "Start highway's etcd, proxy, DNS and route agent containers"
  static description =
    'Builds the infrastructure image if needed, then starts each component and waits until it answers. ' +
    'Running it again changes nothing when all is well, and repairs only what is missing.'

  static examples = [
    '<%= config.bin %> up',
    '<%= config.bin %> up --domain test',
    '<%= config.bin %> up --bridge-ip 172.18.0.1 --upstream-dns 192.168.1.1',
    '<%= config.bin %> up --advertise-ip 10.0.0.5',
    '<%= config.bin %> up --join host-b.join --advertise-ip 10.0.0.6',
    '<%= config.bin %> up --host-ip 127.0.0.1',
  ]

  static flags = {
    domain: Flags.string({description: 'domain whose names highway answers (remembered for later commands)'}),
    'bridge-ip': Flags.string({description: 'address to listen on [default: the docker bridge gateway]'}),
    'base-image': Flags.string({description: 'Debian 13 image the infrastructure image is built from'}),
    'upstream-dns': Flags.string({description: "DNS server for names outside the domain [default: the host's]", multiple: true}),
    etcd: Flags.string({description: 'use this etcd cluster (one of your own) instead of starting one (repeat for each endpoint)', multiple: true}),
    join: Flags.string({
      description: "use another host's etcd, as the host this file names (made there by `highway join-file`); stored, then not needed again",
    }),
    'lease-ttl': Flags.integer({
      description: "seconds a dead host's routes stay in the other hosts' proxies (its records' etcd lease) [default: 10, remembered]",
    }),
    'host-ip': Flags.string({
      description:
        "also publish the DNS and proxy here for this host, whose names then answer this address (127.0.0.1 where the bridge is out of the host's reach: Docker Desktop, rootless, remote) [default: detected; '' for none]",
    }),
    'tcp-range': Flags.string({
      description: "addresses for names served by TCP (cache.local:6379), made local to this host; 'none' for HTTP only [default: 198.19.0.0/16, remembered]",
    }),
    'advertise-ip': Flags.string({
      description:
        "this host's address for the other hosts: its services (and its etcd, when it runs one) are published there too [default: none, loopback and bridge only; '' to stop]",
    }),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Up)
    const request = {
      advertiseIp: flags['advertise-ip'],
      baseImage: flags['base-image'],
      bridgeIp: flags['bridge-ip'],
      domain: flags.domain,
      etcd: flags.etcd,
      hostIp: flags['host-ip'],
      join: flags.join,
      leaseTtl: flags['lease-ttl'],
      tcpRange: flags['tcp-range'],
      upstreamDns: flags['upstream-dns'],
    }
    const interrupted = () => new UserError('interrupted: removed what this run had created', {exitCode: 130})
    const result = await interruptible(interrupted, (signal) => runUp(this.clients, request, signal))
    const {resolver, settings} = result
    if (resolver.message) this.log(resolver.status === 'ok' || resolver.status === 'reapplied' ? resolver.message : colour.yellow(resolver.message))
    if (result.images.removed.length > 0) this.log(`removed older image${result.images.removed.length > 1 ? 's' : ''} ${result.images.removed.join(', ')}`)
    if (result.images.error) this.log(colour.yellow(`could not remove older highway images: ${result.images.error}`))
    const unchanged = Object.values(result.outcomes).every((outcome) => outcome === 'unchanged')
    const forHost = settings.hostIp ? ` (from this host: ${settings.hostIp})` : ''
    this.log(colour.green(`highway is up${unchanged ? ' (nothing to change)' : ''}: *.${settings.domain} -> ${settings.bridgeIp}${forHost}`))
  }
}
