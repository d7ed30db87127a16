import {MANAGED} from '../core/labels.js'
import {displayName} from '../docker/client.js'
import {removeUnusedImages} from '../docker/image.js'
import type {DockerClient} from '../docker/types.js'
import {ETCD_VOLUME, LEGACY_ETCD_VOLUMES, PROXY_VOLUME, REGISTRY_NETWORK} from './components.js'
import {listManaged} from './containers.js'

export interface DownResult {
  containers: string[]
  volumes: string[]
  networks: string[]
  /** highway's infrastructure images removed (with `purge` only). */
  images: string[]
}

/**
 * Removes highway's containers, found by label (never by name alone, so a user's container called
 * highway-proxy survives) and only those `up` created (listManaged: a user's image that carries
 * highway's labels survives too). The proxy's runtime volume and the registry network go too;
 * etcd's data and highway's images (every one no container still uses) only with `purge`, the
 * images not with `keepImages`.
 */
export async function runDown(docker: DockerClient, options: {purge: boolean; keepImages?: boolean}): Promise<DownResult> {
  const result: DownResult = {containers: [], images: [], networks: [], volumes: []}
  for (const container of await listManaged(docker)) {
    await docker.containers.remove(container.Id)
    result.containers.push(displayName(container))
  }
  for (const name of options.purge ? [PROXY_VOLUME, ETCD_VOLUME, ...LEGACY_ETCD_VOLUMES] : [PROXY_VOLUME]) {
    if ((await docker.volumes.labels(name))?.[MANAGED] !== 'true') continue
    await docker.volumes.remove(name)
    result.volumes.push(name)
  }
  if ((await docker.networks.labels(REGISTRY_NETWORK))?.[MANAGED] === 'true') {
    await docker.networks.remove(REGISTRY_NETWORK)
    result.networks.push(REGISTRY_NETWORK)
  }
  if (options.purge && !options.keepImages) result.images = await removeUnusedImages(docker, null)
  return result
}
