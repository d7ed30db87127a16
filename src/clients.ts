import {etcdEndpoints} from './core/settings.js'
import type {Settings} from './core/types.js'
import {createDockerClient} from './docker/client.js'
import type {DockerClient} from './docker/types.js'
import {EtcdRegistry} from './registry/etcd.js'
import type {RegistryClient} from './registry/registry.js'

/**
 * The composition root: the one place highway's clients of the outside world are built. Every
 * command and the agent get their Docker engine and their registry here, so which engine, which
 * etcd and with what deadlines is decided once; everything below takes the interfaces
 * (docker/types.ts, registry/registry.ts), which the agent's tests fill with in-memory fakes.
 */

/** Deadline of every registry call. A refused connection fails at once; this bounds a hung one. */
export const REGISTRY_CALL_TIMEOUT_MS = 3000

export interface Clients {
  readonly env: NodeJS.ProcessEnv
  /** The engine, once it has answered a ping (else a one-line UserError saying how to start it). */
  docker(): Promise<DockerClient>
  /** The registry these settings name (see etcdEndpoints), built on first use. */
  registry(settings: Settings): RegistryClient
  /** Closes what was opened; the process can then exit on its own. */
  close(): void
}

export function createClients(env: NodeJS.ProcessEnv = process.env): Clients {
  let docker: Promise<DockerClient> | undefined
  const registries = new Map<string, RegistryClient>()
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
    registry(settings) {
      const endpoints = etcdEndpoints(settings)
      // The bridge IP is part of what makes a record valid here (see checkRecord).
      const key = `${endpoints.join(',')} ${settings.bridgeIp}`
      let registry = registries.get(key)
      if (!registry) {
        registry = new EtcdRegistry({bridgeIp: settings.bridgeIp || undefined, callTimeout: REGISTRY_CALL_TIMEOUT_MS, endpoints})
        registries.set(key, registry)
      }
      return registry
    },
    close() {
      for (const registry of registries.values()) registry.close()
      registries.clear()
    },
  }
}
