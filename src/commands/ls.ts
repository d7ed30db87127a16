import {HighwayCommand} from '../cli/base-command.js'
import {reachableDocker} from '../cli/docker.js'
import {colour, table} from '../cli/output.js'
import {UserError} from '../core/errors.js'
import {loadSettings} from '../core/settings.js'
import {hostIdentity} from '../docker/client.js'
import {etcdEndpoints} from '../infra/components.js'
import {Registry, unreachable} from '../registry/etcd.js'
import {listServices, type ServiceRow} from '../service/list.js'

export default class Ls extends HighwayCommand {
  static summary = 'List registered services: name, URL, backend, container, state'
  static examples = ['<%= config.bin %> ls', '<%= config.bin %> ls --json']
  static enableJsonFlag = true

  async run(): Promise<ServiceRow[]> {
    await this.parse(Ls)
    const settings = loadSettings()
    if (!settings.bridgeIp) throw new UserError('highway is not set up on this host', {suggestion: 'run `highway up` first'})
    const docker = await reachableDocker()
    const registry = new Registry({callTimeout: 3000, endpoints: etcdEndpoints(settings)})
    try {
      const rows = await listServices(registry, docker, settings, (await hostIdentity(docker)).id).catch((error) => {
        throw unreachable(registry.endpoints, error)
      })
      if (rows.length === 0) {
        this.log(`no services registered; start one with \`highway run -d --name api -p 9090 IMAGE\``)
      } else {
        this.log(
          table(
            ['NAME', 'URL', 'BACKEND', 'CONTAINER', 'HOST', 'STATE'],
            rows.map((row) => [
              row.name,
              row.url,
              row.backend,
              row.container,
              row.host,
              row.problem ? colour.yellow(`${row.state} (${row.problem})`) : row.state === 'running' ? colour.green(row.state) : colour.red(row.state),
            ]),
          ),
        )
      }
      return rows
    } finally {
      registry.close()
    }
  }
}
