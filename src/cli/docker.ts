import type Docker from 'dockerode'
import {assertDockerReachable, connectDocker} from '../docker/client.js'

/** A Docker client that is known to answer, or a one-line UserError saying how to start it. */
export async function reachableDocker(env: NodeJS.ProcessEnv = process.env): Promise<Docker> {
  const docker = connectDocker({env})
  await assertDockerReachable(docker, env)
  return docker
}

export function dockerSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  const host = env.DOCKER_HOST
  return host?.startsWith('unix://') ? host.slice('unix://'.length) : '/var/run/docker.sock'
}
