import {spawn} from 'node:child_process'
import {constants} from 'node:os'
import {UserError} from '../core/errors.js'
import {hostSideIp, loadSettings} from '../core/settings.js'
import type {Settings} from '../core/types.js'
import {waitFor} from '../core/wait.js'
import {dockerRunArgv, parseRunArgs, serviceName, servicePorts} from '../docker/run-args.js'
import {PROBE_HOST, routeState, type RouteState} from '../proxy/client.js'

/**
 * `highway run`: the docker CLI itself runs the container (exact `docker run` behaviour: stdio,
 * TTY, signals, exit code, every flag), with highway's additions. This path imports only what it
 * uses, so it starts about as fast as node itself (bin/run.cjs takes it without loading oclif).
 */
export interface RunIo {
  env: NodeJS.ProcessEnv
  stderr: (line: string) => void
  /** Where the proxy answers; PORTS.http unless a test serves the proxy's answers on a port of its own. */
  proxyPort?: number
}

export const ROUTE_TIMEOUT_MS = 30_000

/**
 * Asks the proxy about `name`. No answer in time can mean two things: highway is not up, or the name
 * is routed to a container that does not answer (the proxy is then retrying its connects). highway's
 * own 404 for a reserved name tells them apart: it never reaches a container.
 */
async function routeStateOrNotUp(settings: Settings, name: string, port?: number): Promise<RouteState> {
  const notUp = new UserError('highway is not up on this host', {suggestion: 'run `highway up` first'})
  if (!settings.bridgeIp) throw notUp
  try {
    return await routeState(hostSideIp(settings), `${name}.${settings.domain}`, {port})
  } catch (error) {
    const up = await routeState(settings.bridgeIp, PROBE_HOST, {port}).catch(() => null)
    if (up !== 'none') throw Object.assign(notUp, {cause: error})
    // highway is up: a name whose request fails twice is routed to a container that does not answer.
    // Once may be a connection lost on its way (refusing a free name for it would be wrong).
    return routeState(hostSideIp(settings), `${name}.${settings.domain}`, {port}).catch(() => 'routed' as const)
  }
}

function docker(args: string[], env: NodeJS.ProcessEnv, capture: boolean): Promise<{code: number; stdout: string}> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', args, {env, stdio: capture ? ['inherit', 'pipe', 'inherit'] : 'inherit'})
    let stdout = ''
    child.stdout?.on('data', (chunk) => (stdout += chunk))
    // The terminal sends Ctrl-C to the whole process group: docker handles it (and its --sig-proxy);
    // highway only stays alive to pass on docker's exit code.
    const forward = (signal: NodeJS.Signals) => child.kill(signal)
    const ignore = () => {}
    process.on('SIGINT', ignore)
    process.on('SIGTERM', forward)
    child.on('error', (error) =>
      reject(new UserError(`cannot run the docker CLI (${error.message})`, {suggestion: 'install the docker client and make sure it is on PATH'})),
    )
    child.on('close', (code, signal) => {
      process.off('SIGINT', ignore)
      process.off('SIGTERM', forward)
      // A shell's convention: 128 + the number of the signal that ended it (130 for SIGINT, 137 for SIGKILL).
      resolve({code: code ?? (signal ? 128 + (constants.signals[signal] ?? 15) : 1), stdout})
    })
  })
}

/** Runs `docker run` with highway's additions; resolves to the exit code highway should exit with. */
export async function runService(argv: string[], io: RunIo): Promise<number> {
  const parsed = parseRunArgs(argv)
  const ports = servicePorts(parsed)
  const settings = loadSettings(io.env)
  const name = serviceName(parsed)
  // One request both checks that highway is up and that the name is free. A replica joins a name on
  // purpose, held or not: with no running owner, it becomes the owner.
  const state = await routeStateOrNotUp(settings, name ?? 'highway-probe', io.proxyPort)
  if (parsed.replace) {
    // Loaded only here: it needs the Docker API and etcd clients, which plain `run` never loads.
    const {replaceService} = await import('./replace.js')
    const outcome = await replaceService(parsed, settings, {...io, dockerRun: (args) => docker(args, io.env, true)})
    if (outcome.kind === 'run-failed') return outcome.code
    if (outcome.kind === 'replaced') {
      process.stdout.write(`${outcome.containerId}\n`)
      return 0
    }
    io.stderr(`highway: no container named ${parsed.name} to replace: starting it`)
  }
  if (state === 'routed' && name && parsed.replicaOf === undefined) {
    throw new UserError(`the name "${name}" is already registered to a running container`, {
      suggestion: `pick another --name, share its traffic with \`--name ${name}-2 --replica-of ${name}\`, or stop that container first (see \`highway ls\`)`,
    })
  }
  if (parsed.name !== undefined && !name) {
    io.stderr(`highway: ${parsed.name} publishes no port (-p PORT), so it is not routed by name; it still resolves *.${settings.domain}`)
  }
  const args = dockerRunArgv(parsed, {advertiseIp: settings.advertiseIp, bridgeIp: settings.bridgeIp})
  if (!parsed.detach) return (await docker(args, io.env, false)).code

  const result = await docker(args, io.env, true)
  process.stdout.write(result.stdout)
  if (result.code !== 0 || !name) return result.code
  const url = `http://${name}.${settings.domain}/`
  await waitFor(async () => ((await routeState(hostSideIp(settings), `${name}.${settings.domain}`, {port: io.proxyPort})) === 'routed' ? true : undefined), {
    // The route goes live a few ms after docker returns (the agent's inspect, etcd put, runtime API): ask often.
    interval: 2,
    message: `${url} did not become routable (container ${result.stdout.trim().slice(0, 12)} is running; see \`highway ls\` and \`highway status\`)`,
    timeout: ROUTE_TIMEOUT_MS,
  })
  io.stderr(`${url} -> ${name} (${ports.map((port) => `${port.containerPort}/${port.protocol}`).join(', ')})`)
  return 0
}
