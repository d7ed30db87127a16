import {Flags} from '@oclif/core'
import {HighwayCommand} from '../cli/base-command.js'
import {dockerSocketPath, reachableDocker} from '../cli/docker.js'
import {colour} from '../cli/output.js'
import {UserError} from '../core/errors.js'
import {loadSettings, saveSettings} from '../core/settings.js'
import type {Settings} from '../core/types.js'
import {assertDomain, assertIPv4} from '../core/validate.js'
import {bridgeGateway, hostIdentity} from '../docker/client.js'
import {CreatedThisRun} from '../infra/containers.js'
import {runUp, type UpContext} from '../infra/up.js'
import {checkRuntimeSetup, systemRunner} from '../resolvers/index.js'

export default class Up extends HighwayCommand {
  static summary = "Start highway's etcd, proxy, DNS and route agent containers"
  static description =
    'Builds the infrastructure image if needed, then starts each component and waits until it answers. ' +
    'Running it again changes nothing when all is well, and repairs only what is missing.'

  static examples = ['<%= config.bin %> up', '<%= config.bin %> up --domain test', '<%= config.bin %> up --bridge-ip 172.18.0.1 --upstream-dns 192.168.1.1']

  static flags = {
    domain: Flags.string({description: 'domain whose names highway answers (remembered for later commands)'}),
    'bridge-ip': Flags.string({description: 'address to listen on [default: the docker bridge gateway]'}),
    'base-image': Flags.string({description: 'Debian 13 image the infrastructure image is built from'}),
    'upstream-dns': Flags.string({description: "DNS server for names outside the domain [default: the host's]", multiple: true}),
    etcd: Flags.string({description: 'use this etcd cluster instead of starting one (repeat for each endpoint)', multiple: true}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Up)
    const saved = loadSettings()
    // Validate everything before touching Docker: bad input creates nothing.
    const domain = assertDomain(flags.domain ?? saved.domain)
    if (flags['bridge-ip']) assertIPv4(flags['bridge-ip'], '--bridge-ip')
    const upstreamDns = (flags['upstream-dns'] ?? saved.upstreamDns).map((server) => assertIPv4(server, '--upstream-dns'))
    const etcdEndpoints = flags.etcd ?? saved.etcdEndpoints
    for (const endpoint of etcdEndpoints) {
      if (!/^https?:\/\/[^\s/]+$/.test(endpoint)) throw new UserError(`invalid --etcd endpoint "${endpoint}": expected a URL such as http://10.0.0.5:2379`)
    }

    const docker = await reachableDocker()
    const bridgeIp = flags['bridge-ip'] ?? (await bridgeGateway(docker))
    const settings: Settings = {baseImage: flags['base-image'] ?? saved.baseImage, bridgeIp, domain, etcdEndpoints, upstreamDns}
    const host = await hostIdentity(docker)

    const controller = new AbortController()
    const onSignal = () => controller.abort(new UserError('interrupted: removed what this run had created', {exitCode: 130}))
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
    const context: UpContext = {
      created: new CreatedThisRun(),
      docker,
      dockerSocket: dockerSocketPath(),
      hostId: host.id,
      outcomes: {},
      settings,
      signal: controller.signal,
    }
    try {
      await runUp(context)
    } finally {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
    // Writing goes through conf, whose import alone costs ~50 ms: only when something changed.
    const changedSettings = (Object.keys(settings) as Array<keyof Settings>).some((key) => JSON.stringify(settings[key]) !== JSON.stringify(saved[key]))
    if (changedSettings) await saveSettings(settings)
    // dns-setup's runtime-only settings (resolved per link, resolvconf) vanish with a reboot or a new docker0.
    const resolver = await checkRuntimeSetup('/', systemRunner(), settings)
    if (resolver.message) this.log(resolver.status === 'ok' || resolver.status === 'reapplied' ? resolver.message : colour.yellow(resolver.message))
    const changed = Object.values(context.outcomes).filter((outcome) => outcome !== 'unchanged').length
    this.log(
      changed === 0 ? colour.green(`highway is up (nothing to change): *.${domain} -> ${bridgeIp}`) : colour.green(`highway is up: *.${domain} -> ${bridgeIp}`),
    )
  }
}
