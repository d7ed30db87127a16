import {UserError} from '../core/errors.js'
import type {ContainerSummary, ImageClient} from './types.js'

/**
 * What highway knows of an engine apart from the dockerode client (client.ts), so that `ls` and
 * `status` (cli/lean.ts) can use it without loading dockerode.
 */

/** How people know a container: its name without Docker's leading slash, else its short ID. */
export function displayName(container: Pick<ContainerSummary, 'Id' | 'Names'>): string {
  return container.Names[0]?.replace(/^\//, '') ?? container.Id.slice(0, 12)
}

/** The labels of each distinct image these containers run, asked once per image (null: it cannot be read). */
export async function imageLabelsOf(
  images: Pick<ImageClient, 'labels'>,
  containers: Array<Pick<ContainerSummary, 'ImageID'>>,
): Promise<Map<string, Record<string, string> | null>> {
  const ids = [...new Set(containers.map((container) => container.ImageID))]
  return new Map(await Promise.all(ids.map(async (id) => [id, await images.labels(id)] as const)))
}

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock'
/** The API version every client of highway's speaks: Debian's engine's, which newer engines still accept. */
export const API_VERSION = 'v1.41'
/** Per-request deadline; the event stream uses a client without one, since it would cut the stream. */
export const REQUEST_TIMEOUT_MS = 30_000

export function describeDockerHost(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_HOST || `unix://${DEFAULT_DOCKER_SOCKET}`
}

export function dockerSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  const host = describeDockerHost(env)
  return host.startsWith('unix://') ? host.slice('unix://'.length) : DEFAULT_DOCKER_SOCKET
}

/** The one line for an engine that does not answer, whichever client asked. */
export function engineUnreachable(env: NodeJS.ProcessEnv, error: unknown): UserError {
  const detail = (error as NodeJS.ErrnoException).code ?? (error as Error).message
  return new UserError(`cannot reach the Docker engine at ${describeDockerHost(env)} (${detail})`, {
    suggestion: env.DOCKER_HOST
      ? 'check that DOCKER_HOST points at a running engine, or unset it to use the local socket'
      : 'start Docker (for example `sudo systemctl start docker` or `sudo dockerd &`) and try again',
    cause: error,
  })
}
