import Docker from 'dockerode'
import {UserError} from '../core/errors.js'
import {COMPONENT, MANAGED, type Component} from '../core/labels.js'

/**
 * The one door to the Docker engine. dockerode reads DOCKER_HOST (and its TLS variables) itself;
 * API 1.41 is what Debian's engine speaks, and newer engines still accept it.
 */
export interface DockerOptions {
  env?: NodeJS.ProcessEnv
  /** Per-request timeout in ms; 0 for long-lived streams (a client timeout would cut the event stream). */
  timeout?: number
}

export function connectDocker(options: DockerOptions = {}): Docker {
  const timeout = options.timeout ?? 30_000
  return new Docker({version: 'v1.41', ...(timeout > 0 ? {timeout} : {})})
}

export function describeDockerHost(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_HOST || 'unix:///var/run/docker.sock'
}

/** Fails with one line saying how to fix it when no engine answers. */
export async function assertDockerReachable(docker: Docker, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  try {
    await docker.ping()
  } catch (error) {
    const host = describeDockerHost(env)
    const detail = (error as NodeJS.ErrnoException).code ?? (error as Error).message
    throw new UserError(`cannot reach the Docker engine at ${host} (${detail})`, {
      suggestion: env.DOCKER_HOST
        ? 'check that DOCKER_HOST points at a running engine, or unset it to use the local socket'
        : 'start Docker (for example `sudo systemctl start docker` or `sudo dockerd &`) and try again',
      cause: error,
    })
  }
}

/** The first host address of an IPv4 subnet: where Docker puts a bridge's gateway unless told otherwise. */
export function firstHost(subnet: string): string | undefined {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(subnet)
  if (!match) return undefined
  const octets = match.slice(1, 5).map(Number)
  const prefix = Number(match[5])
  if (octets.some((octet) => octet > 255) || prefix > 30) return undefined
  const first = octets.reduce((value, octet) => value * 256 + octet, 0) + 1
  return [24, 16, 8, 0].map((shift) => Math.floor(first / 2 ** shift) % 256).join('.')
}

/**
 * The default bridge's gateway: the address highway's listeners bind to on this host. Engines
 * before 23 leave Gateway out of the default bridge's IPAM config; Docker then uses the subnet's
 * first address.
 */
export async function bridgeGateway(docker: Docker): Promise<string> {
  const network = (await docker.getNetwork('bridge').inspect()) as {IPAM?: {Config?: Array<{Gateway?: string; Subnet?: string}>}}
  const configs = network.IPAM?.Config ?? []
  const gateway =
    configs.find((config) => config.Gateway)?.Gateway ?? configs.map((config) => (config.Subnet ? firstHost(config.Subnet) : undefined)).find(Boolean)
  if (!gateway) {
    throw new UserError('the docker "bridge" network has no gateway address', {
      suggestion: 'pass --bridge-ip with the address containers use to reach this host',
    })
  }
  return gateway
}

export interface HostIdentity {
  id: string
  name: string
}

/** The engine's own ID names this host in etcd: stable across restarts, distinct per engine. */
export async function hostIdentity(docker: Docker): Promise<HostIdentity> {
  const info = (await docker.info()) as {ID?: string; Name?: string}
  const id = (info.ID ?? info.Name ?? 'unknown')
    .replaceAll(/[^A-Za-z0-9]/g, '')
    .slice(0, 16)
    .toLowerCase()
  return {id: id || 'unknown', name: info.Name ?? id}
}

export async function listManaged(docker: Docker, component?: Component): Promise<Docker.ContainerInfo[]> {
  const label = component ? [`${COMPONENT}=${component}`] : [`${MANAGED}=true`]
  return docker.listContainers({all: true, filters: {label}})
}

export function isNotFound(error: unknown): boolean {
  return (error as {statusCode?: number}).statusCode === 404
}

export function isConflict(error: unknown): boolean {
  return (error as {statusCode?: number}).statusCode === 409
}

/** Removes a container, treating "already gone" as done. */
export async function removeContainer(docker: Docker, id: string): Promise<void> {
  try {
    await docker.getContainer(id).remove({force: true, v: false})
  } catch (error) {
    if (!isNotFound(error) && !isConflict(error)) throw error
  }
}
