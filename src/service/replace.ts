import {randomBytes} from 'node:crypto'
import {setTimeout as delay} from 'node:timers/promises'
import {constants} from 'node:os'
import {createClients} from '../clients.js'
import {UserError} from '../core/errors.js'
import {httpGet} from '../core/http.js'
import {labelsSetAtCreate, REPLICA_OF, SERVICE} from '../core/labels.js'
import {runProcess} from '../core/process.js'
import type {Settings} from '../core/types.js'
import {waitFor} from '../core/wait.js'
import {dockerRunArgv, servicePorts, type ParsedRun} from '../docker/run-args.js'
import type {ContainerDetails, ContainerSummary, DockerClient} from '../docker/types.js'
import {DOWN_RECHECK_MS} from '../proxy/haproxy.js'
import type {RegistryClient} from '../registry/registry.js'

/**
 * `highway run -d --name NAME --replace ... IMAGE`: a redeploy without a failed request. The new
 * container starts beside the old one as a replica of NAME (a second server of the same backend,
 * see "Who owns a name" in docs/architecture.md), is waited for until it answers and its record
 * is `running`, and only then is the old one stopped (its `kill` event takes it out of the proxy
 * before its process sees the signal, so its in-flight requests finish), removed, and the new one
 * renamed to NAME.
 *
 * Loaded by run.ts only when --replace is given: it needs dockerode and etcd3, which the plain
 * `run` path never loads.
 *
 * Where Ctrl-C (or SIGTERM) leaves things, by phase:
 * - starting and waiting: the new container is removed, the old one never stopped serving;
 * - once the old container has been told to stop, the swap is committed: the new one is already a
 *   server of NAME and the old one is draining, so a signal only says so and the swap completes.
 * A process killed outright (SIGKILL) leaves one of two states, both serving NAME: old and new side
 * by side (the new one under its temporary name, a replica), or only the new one under its
 * temporary name (`docker rename` it to NAME). Never neither.
 */

export interface ReplaceIo {
  env: NodeJS.ProcessEnv
  stderr: (line: string) => void
  /** `docker run` with these arguments, its stdout captured (the new container's ID), its stderr the user's. */
  dockerRun: (args: string[]) => Promise<{code: number; stdout: string}>
}

/** No container NAME (run a plain `run -d`), docker run failed with this code (docker said why), or done. */
export type ReplaceOutcome = {kind: 'absent'} | {kind: 'run-failed'; code: number} | {kind: 'replaced'; containerId: string; swapMs: number}

/** What the wait for the new container saw last: said in the error when it never became ready. */
interface Readiness {
  ready: boolean
  exited?: string
  missing?: string
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

/** Whether `container` is the highway service NAME: its service label, given when it was created (not its image's), says so. */
async function isServiceNamed(docker: DockerClient, container: ContainerDetails, name: string): Promise<boolean> {
  const own = labelsSetAtCreate(container.Config?.Labels, await docker.images.labels(container.Image))
  return own[SERVICE] === name
}

/**
 * Ready means two things. The container answers: Docker says healthy when it has a health check,
 * else an HTTP request to its published port gets any HTTP answer (a 404 or 500 is an answer: the
 * process listens and speaks HTTP). And its record in etcd is `running`: the record is what every
 * host's proxy renders from, and etcd delivers one key's changes in order, so a proxy that later
 * sees the old container leave has seen the new one arrive first. The proxy's own answers cannot
 * say this: the name is routed all along (by the old container), and nothing in an answer tells
 * which server gave it.
 */
async function readiness(docker: DockerClient, registry: RegistryClient, id: string, settings: Settings, name: string, port: number): Promise<Readiness> {
  const details = await docker.containers.inspect(id)
  if (!details) return {ready: false, exited: 'it was removed'}
  if (!details.State.Running) return {ready: false, exited: `it exited with code ${details.State.ExitCode}`}
  const health = details.State.Health?.Status
  if (health !== undefined) {
    if (health !== 'healthy') return {ready: false, missing: `its health check says ${health}`}
  } else {
    const binding = details.NetworkSettings.Ports?.[`${port}/tcp`]?.[0]
    if (!binding) return {ready: false, missing: `port ${port}/tcp is not published`}
    // Published on every interface: the bridge address is one of them.
    const address = ['', '0.0.0.0', '::'].includes(binding.HostIp) ? settings.bridgeIp : binding.HostIp
    try {
      await httpGet(address, Number(binding.HostPort), `${name}.${settings.domain}`, '/', 1000)
    } catch (error) {
      return {ready: false, missing: `no HTTP answer on ${address}:${binding.HostPort} (${(error as Error).message})`}
    }
  }
  const {records} = await registry.listServices()
  const record = [...records.values()].find((candidate) => candidate.containerId === details.Id)
  if (record?.state !== 'running') {
    return {ready: false, missing: `its record in etcd is ${record ? record.state : 'missing'} (the agent registers it: see \`highway status\`)`}
  }
  return {ready: true}
}

/**
 * Replaces the container named `parsed.name`, or returns 'absent' when there is none (the
 * caller then runs a plain `run -d`). Throws a one-line UserError, with the new container removed and
 * the old one untouched, when the new one does not become ready.
 */
export async function replaceService(parsed: ParsedRun, settings: Settings, io: ReplaceIo): Promise<ReplaceOutcome> {
  const name = parsed.name
  if (!name) throw new Error('replaceService needs --name (checked by parseRunArgs)')
  const clients = createClients(io.env)
  try {
    const docker = await clients.docker()
    const found = await docker.containers.inspect(name)
    // Docker resolves an ID prefix too: only a container with exactly this name counts.
    const old = found?.Name === `/${name}` ? found : null
    const leftovers = temporaries(await docker.containers.list([`${SERVICE}=${name}`, `${REPLICA_OF}=${name}`]), name)
    // Past its point of no return, a --replace stops the old container: a running temporary one
    // beside no running NAME is the service now, and must not be taken for an uncommitted leftover.
    const serving = old?.State.Running ? undefined : leftovers.find((container) => container.State === 'running')
    if (serving) {
      const temporary = serving.Names[0].slice(1)
      throw new UserError(`a --replace of ${name} was cut short after its swap began: ${temporary} serves ${name} under its temporary name`, {
        suggestion: `${old ? `docker rm ${name} && ` : ''}docker rename ${temporary} ${name}, then run this again`,
      })
    }
    if (!old) return {kind: 'absent'}
    if (!(await isServiceNamed(docker, old, name))) {
      throw new UserError(`the container named ${name} is not the highway service ${name}: --replace replaces only what highway routes under that name`, {
        suggestion: `remove or rename that container first (docker rm / docker rename), or pick another --name`,
      })
    }
    // A --replace killed before its swap leaves its new container beside the old one: never committed, so removed.
    for (const leftover of leftovers) {
      io.stderr(`highway: removing ${leftover.Names[0].slice(1)}, left by a --replace of ${name} that was cut short`)
      await docker.containers.remove(leftover.Id)
    }
    const registry = clients.registry(settings)
    const port = servicePorts(parsed)[0].containerPort
    return await swap(parsed, settings, io, {docker, registry, old, name, port})
  } finally {
    clients.close()
  }
}

/** Temporary containers of a --replace of `name`: replicas of it, named as swap() names them. */
export function temporaries(containers: ContainerSummary[], name: string): ContainerSummary[] {
  const pattern = new RegExp(`^/${name}-next-[0-9a-f]{6}$`)
  return containers.filter((container) => container.Labels?.[REPLICA_OF] === name && container.Names.some((candidate) => pattern.test(candidate)))
}

interface SwapContext {
  docker: DockerClient
  registry: RegistryClient
  old: ContainerDetails
  name: string
  port: number
}

async function swap(parsed: ParsedRun, settings: Settings, io: ReplaceIo, {docker, registry, old, name, port}: SwapContext): Promise<ReplaceOutcome> {
  const started = Date.now()
  const temporary = `${name}-next-${randomBytes(3).toString('hex')}`
  // Docker keeps the last --name, so the temporary one goes after the user's; as a replica of NAME
  // the new container becomes a second server of NAME instead of a conflict.
  const args = dockerRunArgv({...parsed, flags: [...parsed.flags, '--name', temporary], replicaOf: name}, {bridgeIp: settings.bridgeIp})

  const abort = new AbortController()
  let committed = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (committed) {
      io.stderr(`highway: ${signal}: the swap is past its point of no return (${name} is draining); finishing it`)
      return
    }
    abort.abort(new UserError(`${signal}: removed ${temporary}, ${name} still serves`, {exitCode: 128 + (constants.signals[signal] ?? 15)}))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  const removeNew = (id: string) => docker.containers.remove(id)
  try {
    io.stderr(`highway: starting ${temporary} beside ${name}`)
    const result = await io.dockerRun(args)
    const newId = result.stdout.trim()
    if (result.code !== 0 || abort.signal.aborted) {
      // docker run may have created it before failing (or being interrupted): by name, since no ID was printed.
      await removeNew(newId || temporary)
      abort.signal.throwIfAborted()
      return {kind: 'run-failed', code: result.code}
    }

    const timeoutMs = parsed.replaceTimeoutSeconds * 1000
    let last: Readiness = {ready: false, missing: 'not asked yet'}
    let failure: unknown
    try {
      // An exit ends the wait at once: a container that stopped will not answer later.
      last = await waitFor(
        async () => {
          last = await readiness(docker, registry, newId, settings, name, port)
          return last.ready || last.exited ? last : undefined
        },
        {interval: 100, message: `${temporary} was not ready`, signal: abort.signal, timeout: timeoutMs},
      )
      // The proxy checks the new server too: one it checked before its app listened (it had just
      // started) is down until its next check, at most DOWN_RECHECK_MS after the app answers. The old
      // server must not leave before that, or the name is left with no server for that moment.
      if (last.ready) await delay(2 * DOWN_RECHECK_MS, undefined, {signal: abort.signal})
    } catch (error) {
      failure = error
    }
    if (failure !== undefined || !last.ready) {
      await removeNew(newId)
      if (abort.signal.aborted) throw abort.signal.reason
      const what = last.exited
        ? `${temporary} stopped before it was ready (${last.exited})`
        : `${temporary} was not ready within ${parsed.replaceTimeoutSeconds} s (${last.missing})`
      throw new UserError(`${what}; removed it, ${name} still serves`, {
        cause: failure,
        suggestion: `check that ${parsed.image} answers HTTP on port ${port} with these flags (a plain \`docker run\` and \`docker logs\`), or allow more time with --replace-timeout SECONDS`,
      })
    }
    committed = true
    const readyMs = Date.now() - started
    // dockerode's type leaves it out; Docker sends it when the container was created with --stop-timeout.
    const stopTimeout = (old.Config as {StopTimeout?: number} | undefined)?.StopTimeout ?? 10
    io.stderr(`highway: ${temporary} answers and is registered (${seconds(readyMs)}); stopping ${name} (up to ${stopTimeout} s to drain)`)
    // The docker CLI, not the API client: `docker stop` with no -t honours the container's own stop
    // timeout, however long, where the API client's request deadline would cut it.
    // A Ctrl-C reaches that child too (one process group), after the engine has the request: then
    // the engine finishes the stop on its own, so what counts is that the old container stops.
    const stop = await runProcess('docker', ['stop', old.Id], {env: io.env, timeoutMs: (stopTimeout + 30) * 1000})
    await waitFor(async () => ((await docker.containers.inspect(old.Id))?.State.Running ? undefined : true), {
      interval: 100,
      message: `${name} (${old.Id.slice(0, 12)}) did not stop${stop.code === 0 ? '' : ` (docker stop: ${stop.stderr.trim()})`}; ${temporary} serves ${name} beside it`,
      timeout: 30_000,
    })
    await docker.containers.remove(old.Id)
    await docker.containers.rename(newId, name)
    const swapMs = Date.now() - started
    io.stderr(`highway: ${name} replaced: ${old.Id.slice(0, 12)} -> ${newId.slice(0, 12)} in ${seconds(swapMs)}`)
    return {kind: 'replaced', containerId: newId, swapMs}
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}
