import {etcdEndpoints} from './core/settings.js'
import type {Settings} from './core/types.js'
import {createDockerClient} from './docker/client.js'
import type {DockerClient, DockerReader} from './docker/types.js'
import {EtcdRegistry} from './registry/etcd.js'
import {PkiStore, type TlsIdentity} from './registry/pki.js'
import {noIdentity, REGISTRY_CALL_TIMEOUT_MS, type RegistryAdmin, type RegistryClient, type RegistryReader} from './registry/registry.js'

/**
 * The composition root: the one place highway's clients of the outside world are built. Every
 * command and the agent get their Docker engine and their registry here, so which engine, which
 * etcd, as whom and with what deadlines is decided once; everything below takes the interfaces
 * (docker/types.ts, registry/registry.ts), which the agent's tests fill with in-memory fakes.
 */

export {REGISTRY_CALL_TIMEOUT_MS}

export interface ClientOptions {
  /** The registry identity to use instead of this host's from the PKI directory (the agent gets its own from `up`). */
  identity?: TlsIdentity
}

/** What `ls` takes: Clients, or cli/lean.ts's lighter clients of the same engine and etcd. */
export interface ReadClients {
  docker(): Promise<DockerReader>
  registry(settings: Settings): RegistryReader
  identity(): TlsIdentity | null
}

export interface Clients extends ReadClients {
  readonly env: NodeJS.ProcessEnv
  /** The engine, once it has answered a ping (else a one-line UserError saying how to start it). */
  docker(): Promise<DockerClient>
  /** The registry these settings name (see etcdEndpoints) as this host's etcd user, built on first use. */
  registry(settings: Settings): RegistryClient
  /** The same registry as etcd's root user: bootstrapping auth and adding hosts, on the host that runs etcd. */
  admin(settings: Settings): RegistryClient & RegistryAdmin
  /** The client identity registry() uses: this host's certificate, key and CA (null before `up` made them). */
  identity(): TlsIdentity | null
  /** Closes what was opened; the process can then exit on its own. */
  close(): void
}

export function createClients(env: NodeJS.ProcessEnv = process.env, options: ClientOptions = {}): Clients {
  let docker: Promise<DockerClient> | undefined
  const registries = new Map<string, EtcdRegistry>()
  const pki = PkiStore.of(env)
  const identity = () => options.identity ?? pki.identity('host')
  const build = (settings: Settings, as: 'host' | 'root') => {
    const endpoints = etcdEndpoints(settings)
    // The bridge IP, advertise address and host id are part of what makes a record valid here (see checkRecord).
    const key = `${as} ${endpoints.join(',')} ${settings.bridgeIp} ${settings.advertiseIp ?? ''} ${settings.hostId ?? ''}`
    let registry = registries.get(key)
    if (!registry) {
      // Plain http is only an etcd the user runs without TLS (`up --etcd http://...`); highway's own speak https.
      const secure = endpoints.some((endpoint) => endpoint.startsWith('https:'))
      const tls = secure ? ((as === 'host' ? identity() : pki.identity('root')) ?? undefined) : undefined
      if (secure && !tls) throw noIdentity(as === 'host' ? 'host' : 'root (administrator)')
      registry = new EtcdRegistry({
        advertiseIp: settings.advertiseIp || undefined,
        bridgeIp: settings.bridgeIp || undefined,
        hostId: settings.hostId || undefined,
        callTimeout: REGISTRY_CALL_TIMEOUT_MS,
        endpoints,
        tls,
      })
      registries.set(key, registry)
    }
    return registry
  }
  return {
    env,
    docker() {
      docker ??= (async () => {
        const client = createDockerClient(env)
        await client.engine.assertReachable()
        return client
      })()
      return docker
    },
    registry: (settings) => build(settings, 'host'),
    admin: (settings) => build(settings, 'root'),
    identity,
    close() {
      for (const registry of registries.values()) registry.close()
      registries.clear()
    },
  }
}
