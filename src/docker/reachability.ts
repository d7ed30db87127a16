/**
 * Can this host reach the engine's bridge address? On a Linux engine running as root on this
 * machine it can: docker0 is one of its interfaces. On Docker Desktop (macOS, Windows, Linux) the
 * engine and its bridge live in a VM; rootless Docker keeps them in rootlesskit's network
 * namespace; a remote engine's bridge is on another machine. There highway also publishes its DNS
 * and proxy on a host-side address (127.0.0.1), which Desktop forwards from the host's loopback.
 */
import type {EngineInfo} from './types.js'

export interface BridgeReach {
  reachable: boolean
  /** Why not, in a few words (empty when reachable). */
  reason: string
}

/** The address highway publishes on for the host when the bridge is out of its reach. */
export const LOOPBACK_HOST_IP = '127.0.0.1'

/** From `docker info` (the engine's /info) and the address the client dials (DOCKER_HOST, else the local socket). */
export function bridgeReachability(info: EngineInfo, dockerHost: string): BridgeReach {
  if (/docker desktop/i.test(info.OperatingSystem ?? '')) return {reachable: false, reason: `the engine runs in Docker Desktop's VM (${info.OperatingSystem})`}
  if ((info.SecurityOptions ?? []).some((option) => option.split(',').includes('name=rootless'))) {
    return {reachable: false, reason: "the engine is rootless: its bridge is inside rootlesskit's network namespace"}
  }
  const scheme = /^([a-z]+):\/\//i.exec(dockerHost)?.[1]?.toLowerCase()
  if (scheme && scheme !== 'unix' && scheme !== 'npipe') return {reachable: false, reason: `the engine is remote (${dockerHost})`}
  return {reachable: true, reason: ''}
}
