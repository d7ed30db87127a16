import type {Clients} from '../clients.js'
import {COMPONENT, MANAGED} from '../core/labels.js'
import {saveSettings} from '../core/settings.js'
import {waitFor} from '../core/wait.js'
import type {Settings} from '../core/types.js'
import {PkiStore} from '../registry/pki.js'
import {peerUrl} from '../registry/provision.js'
import {unreachable, type EtcdMember} from '../registry/registry.js'
import {displayName} from '../docker/summary.js'
import {removeUnusedImages} from '../docker/image.js'
import type {DockerClient} from '../docker/types.js'
import {ETCD_VOLUME, LEGACY_ETCD_VOLUMES, NAMES_VOLUME, PROXY_VOLUME, REGISTRY_NETWORK, runsEtcd} from './components.js'
import {listManaged} from './containers.js'

export interface DownResult {
  containers: string[]
  volumes: string[]
  networks: string[]
  /** highway's infrastructure images removed (with `purge` only). */
  images: string[]
  /** The etcd member this host ran and took out of the cluster, if any (see leaveCluster). */
  leftCluster?: {member: string; endpoints: string[]}
}

const REMOVE_TIMEOUT_MS = 15_000

/**
 * Before `down` on a host whose etcd is one member of several: takes that member out of the cluster
 * (etcd's member remove, as root), so the others keep a quorum of their own size instead of counting a
 * member that will not come back, and makes this host a client of the others (settings saved). Its
 * data belongs to a removed member, which etcd will never let in again: `down` drops it. The last
 * member is never removed: the registry would be gone.
 */
export async function leaveCluster(clients: Clients, settings: Settings): Promise<DownResult['leftCluster']> {
  if (!runsEtcd(settings) || !settings.advertiseIp || !PkiStore.of(clients.env).identity('root')) return undefined
  const admin = clients.admin(settings)
  let members: EtcdMember[]
  try {
    members = await admin.members()
  } catch (error) {
    throw unreachable(admin.endpoints, error)
  }
  const own = members.find((member) => member.peerUrls.includes(peerUrl(settings.advertiseIp!)))
  const others = members.filter((member) => member !== own)
  if (!own || others.length === 0) return undefined
  const endpoints = others.flatMap((member) => member.clientUrls)
  if (endpoints.length === 0) return undefined
  // etcd refuses to remove a member while the ones left have not all been connected for a few seconds
  // (its strict reconfiguration check: a member that just came back does not count yet); that passes.
  await waitFor(
    async () => {
      try {
        await admin.removeMember(own.id)
        return true
      } catch (error) {
        if (/not enough started members/i.test((error as Error).message)) return undefined
        throw unreachable(admin.endpoints, error)
      }
    },
    {interval: 500, message: `etcd did not let member ${own.name || own.id} leave: the others are not all connected`, timeout: REMOVE_TIMEOUT_MS},
  )
  const {etcdMember: _member, etcdPeers: _peers, ...rest} = settings
  saveSettings({...rest, etcdEndpoints: endpoints}, clients.env)
  return {endpoints, member: own.name || own.id}
}

const TCP_STOP_SECONDS = 5

/**
 * Removes highway's containers, found by label (never by name alone, so a user's container called
 * highway-proxy survives) and only those `up` created (listManaged: a user's image that carries
 * highway's labels survives too). The proxy's runtime volume and the registry network go too;
 * etcd's data and highway's images (every one no container still uses) only with `purge`, the
 * images not with `keepImages`.
 */
export async function runDown(
  docker: DockerClient,
  options: {purge: boolean; keepImages?: boolean; leftCluster?: DownResult['leftCluster']},
): Promise<DownResult> {
  const result: DownResult = {containers: [], images: [], networks: [], volumes: []}
  for (const container of await listManaged(docker)) {
    // Stopped first, not killed: its start script then takes highway's range off the host's routes.
    if (container.Labels[COMPONENT] === 'tcp' && container.State === 'running') await docker.containers.stop(container.Id, TCP_STOP_SECONDS)
    await docker.containers.remove(container.Id)
    result.containers.push(displayName(container))
  }
  const dropEtcd = options.purge || options.leftCluster !== undefined
  if (options.leftCluster) result.leftCluster = options.leftCluster
  for (const name of dropEtcd ? [PROXY_VOLUME, NAMES_VOLUME, ETCD_VOLUME, ...LEGACY_ETCD_VOLUMES] : [PROXY_VOLUME, NAMES_VOLUME]) {
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
