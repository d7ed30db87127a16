import {MANAGED} from '../core/labels.js'
import {displayName} from '../docker/client.js'
import type {DockerClient} from '../docker/types.js'
import {ETCD_VOLUME, PROXY_VOLUME} from './components.js'
import {listManaged} from './containers.js'

export interface DownResult {
  containers: string[]
  volumes: string[]
}

/**
 * Removes highway's containers, found by label (never by name alone, so a user's container called
 * highway-proxy survives). The proxy's runtime volume goes too; etcd's data only with `purge`.
 */
export async function runDown(docker: DockerClient, options: {purge: boolean}): Promise<DownResult> {
  const result: DownResult = {containers: [], volumes: []}
  for (const container of await listManaged(docker)) {
    await docker.containers.remove(container.Id)
    result.containers.push(displayName(container))
  }
  for (const name of options.purge ? [PROXY_VOLUME, ETCD_VOLUME] : [PROXY_VOLUME]) {
    if ((await docker.volumes.labels(name))?.[MANAGED] !== 'true') continue
    await docker.volumes.remove(name)
    result.volumes.push(name)
  }
  return result
}
