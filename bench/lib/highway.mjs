// What highway itself does, taken from the built code (dist/, what `highway` runs), never copied by
// hand: the baselines the benchmarks compare highway against must move when highway moves. Every
// import of dist/ by the benchmark scripts goes through this module, so a refactor of src/ breaks
// one file, loudly (a missing export fails the import), and never a figure silently.
import {DEFAULT_SETTINGS} from '../../dist/core/types.js'
import {SERVICE, SERVICE_PORTS as PORTS_LABEL} from '../../dist/core/labels.js'
import {dockerRunArgv, parseRunArgs} from '../../dist/docker/run-args.js'
import {componentSpecs} from '../../dist/infra/components.js'
import {CONFIG_PATH, HIGHWAY_HEADER, MASTER_SOCKET, renderProxyConfig} from '../../dist/proxy/haproxy.js'
import {serviceKey} from '../../dist/registry/schema.js'
import {loadSettings} from '../../dist/core/settings.js'
import {createClients} from '../../dist/clients.js'

/** highway's own registry client (with this config directory's certificates), for scripts that read or write etcd. */
export {CONFIG_PATH, HIGHWAY_HEADER, MASTER_SOCKET, createClients, loadSettings, serviceKey}

/**
 * Every put of `name`'s records in etcd from now on, timestamped on `now`'s clock as `{at, state}`, read
 * through highway's own client with `env`'s certificates: where a benchmark splits a route change at the
 * moment the record changed. Resolves once the watch is open; `close()` ends it.
 */
export async function watchRecordPuts(env, name, now, onBroken) {
  const puts = []
  const clients = createClients(env)
  try {
    const registry = clients.registry(loadSettings(env))
    const {revision} = await registry.listServices()
    const watcher = await registry.watchServices(
      String(BigInt(revision) + 1n),
      (event) => {
        if (event.type === 'put' && event.record.name === name) puts.push({at: now(), state: event.record.state})
      },
      onBroken,
    )
    return {
      puts,
      close: async () => {
        await watcher.cancel().catch(() => {})
        clients.close()
      },
    }
  } catch (error) {
    clients.close()
    throw error
  }
}

/**
 * The argv `highway run` hands the docker CLI for `highwayArgs` (its own argv after `run`), as
 * dist/service/run.js builds it. `labels: false` drops highway's two service labels: the same
 * container without a route, for plain docker.
 */
export function dockerArgvOf(highwayArgs, {bridgeIp, labels = true}) {
  const argv = dockerRunArgv(parseRunArgs(highwayArgs), {bridgeIp})
  if (labels) return argv
  const ours = (value) => value.startsWith(`${SERVICE}=`) || value.startsWith(`${PORTS_LABEL}=`)
  const out = []
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--label' && ours(argv[i + 1] ?? '')) i++
    else out.push(argv[i])
  }
  if (out.some((token) => token.includes(SERVICE))) throw new Error(`highway's service label left in the plain docker argv: ${out.join(' ')}`)
  return out
}

/** The container specs `highway up` creates with these settings (names, commands), by component. */
export function componentsOf(settings = {}) {
  // Placeholder certificates: the specs' shape, not their secrets, is what the benchmarks read.
  const tls = {agent: {ca: 'CA', cert: 'CERT', key: 'KEY'}, etcd: {ca: 'CA', cert: 'CERT', key: 'KEY'}}
  const specs = componentSpecs({dockerSocket: '/var/run/docker.sock', image: 'IMAGE', settings: {...DEFAULT_SETTINGS, bridgeIp: '127.0.0.1', ...settings}, tls})
  return Object.fromEntries(specs.map((spec) => [spec.component, spec]))
}

/** Container names of highway's components, by component: highway-proxy, highway-agent, ... */
export const CONTAINERS = Object.fromEntries(Object.entries(componentsOf()).map(([component, spec]) => [component, spec.name]))

/**
 * etcd's own command line as `highway up` runs it (with `bridgeIp` as the bridge address), without
 * its TLS: what the election-time evidence compares is the raft timers, and a bare etcd container
 * has no certificates to present. The start script that writes them (`sh -c SCRIPT NAME`) is dropped;
 * what it runs stays, with the launcher that sets etcd's timer slack.
 */
export function etcdCommand(bridgeIp) {
  const command = componentsOf({bridgeIp}).etcd.create.Cmd
  if (command[0] !== 'sh' || command[1] !== '-c')
    throw new Error(`etcd no longer starts with \`sh -c SCRIPT NAME ...\`: update bench/lib/highway.mjs (${command.slice(0, 2)})`)
  return command
    .slice(4)
    .filter((flag) => !/cert|key-file|trusted-ca|client-cert-auth/.test(flag))
    .map((flag) => flag.replaceAll('https://', 'http://'))
}

/**
 * The `global` and `defaults` sections of the config the agent renders: what a hand-configured
 * HAProxy baseline must share with highway's so that the comparison is of the path, not of settings.
 */
export function haproxyPrelude() {
  const {config} = renderProxyConfig({domain: 'local', records: []})
  const end = config.indexOf('\nfrontend ')
  if (!config.startsWith('#') || end < 0) throw new Error('rendered HAProxy config has no `frontend` after its defaults: update bench/lib/highway.mjs')
  return config
    .slice(0, end)
    .split('\n')
    .filter((line) => line.trim() && !line.startsWith('#'))
    .join('\n')
}

/** The options highway puts on every server line (health checks, rise/fall), after `ADDRESS:PORT`. */
export function haproxyServerOptions() {
  const record = {
    schema: 2,
    name: 'probe',
    state: 'running',
    ports: [{containerPort: '9090/tcp', address: '10.0.0.1', port: 32768}],
    hostId: 'bench',
    hostName: 'bench',
    containerId: 'a'.repeat(64),
    containerName: 'probe',
    containerIp: '',
    createdAt: '1970-01-01T00:00:00.000000000Z',
    replica: false,
    updatedAt: new Date(0).toISOString(),
  }
  const line = renderProxyConfig({domain: 'local', records: [record]})
    .config.split('\n')
    .find((l) => l.trim().startsWith('server ') && l.includes('10.0.0.1:32768'))
  if (!line) throw new Error('rendered HAProxy config has no server line for a running record: update bench/lib/highway.mjs')
  return line.slice(line.indexOf('10.0.0.1:32768') + '10.0.0.1:32768'.length).trim()
}

/** A setting of the rendered `defaults` section, e.g. haproxyDefault('timeout connect') -> '500ms'. */
export function haproxyDefault(setting) {
  const line = haproxyPrelude()
    .split('\n')
    .find((l) => l.trim().startsWith(`${setting} `))
  return line?.trim().slice(setting.length).trim() ?? null
}
