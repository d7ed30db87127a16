import type Docker from 'dockerode'
import {MANAGED} from '../core/labels.js'
import {isNotFound, listManaged, removeContainer} from '../docker/client.js'
import {ETCD_VOLUME, PROXY_VOLUME} from './components.js'

export interface DownResult {
  containers: string[]
  volumes: string[]
}

/**
 * Removes highway's containers, found by label (never by name alone, so a user's container called
 * highway-proxy survives). The proxy's runtime volume goes too; etcd's data only with `purge`.
 */
export async function runDown(docker: Docker, options: {purge: boolean}): Promise<DownResult> {
  const result: DownResult = {containers: [], volumes: []}
  for (const container of await listManaged(docker)) {
    await removeContainer(docker, container.Id)
    result.containers.push(container.Names[0]?.replace(/^\//, '') ?? container.Id.slice(0, 12))
  }
  const volumes = options.purge ? [PROXY_VOLUME, ETCD_VOLUME] : [PROXY_VOLUME]
  for (const name of volumes) {
    try {
      const volume = await docker.getVolume(name).inspect()
      if (volume.Labels?.[MANAGED] !== 'true') continue
      await docker.getVolume(name).remove()
      result.volumes.push(name)
    } catch (error) {
      if (!isNotFound(error)) throw error
    }
  }
  return result
}
