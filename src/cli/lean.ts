import type {ReadClients} from '../clients.js'
import {formatUserError, isUserError} from '../core/errors.js'
import {httpGetSocket} from '../core/http.js'
import {etcdEndpoints, loadSettings} from '../core/settings.js'
import type {Settings} from '../core/types.js'
import {API_VERSION, dockerSocketPath, engineUnreachable, REQUEST_TIMEOUT_MS} from '../docker/summary.js'
import type {ContainerSummary, DockerReader} from '../docker/types.js'
import {collectStatus} from '../infra/status.js'
import {clusterStatusAt, rangePrefix} from '../registry/grpc-range.js'
import {PkiStore} from '../registry/pki.js'
import {agentReports, noIdentity, REGISTRY_CALL_TIMEOUT_MS, serviceListing, type RegistryReader} from '../registry/registry.js'
import {HOSTS} from '../registry/schema.js'
import {listServices} from '../service/list.js'
import {lsLines, statusLines} from './render.js'

/**
 * bin/run.cjs's lean path for `highway ls` and `highway status` (with or without `--json`): the
 * same flows (service/list.ts, infra/status.ts) and the same lines (render.ts) as the oclif
 * commands, on clients that load neither oclif, dockerode nor etcd3: the engine's HTTP API on its
 * unix socket, and etcd's gRPC on node's HTTP/2 (registry/grpc-range.ts). Anything else (other
 * flags, `--help`, DOCKER_HOST over TCP, HIGHWAY_CONTENT_TYPE) goes to oclif, unchanged.
 */

/** Docker's answer as JSON, or an error that says what the engine said. */
async function engineGet<T>(env: NodeJS.ProcessEnv, path: string, notFound?: T): Promise<T> {
  const answer = await httpGetSocket(dockerSocketPath(env), `/${API_VERSION}${path}`, REQUEST_TIMEOUT_MS)
  if (answer.status === 404 && notFound !== undefined) return notFound
  if (answer.status < 200 || answer.status > 299) {
    const message = (() => {
      try {
        return (JSON.parse(answer.body) as {message?: string}).message ?? answer.body
      } catch {
        return answer.body
      }
    })()
    throw new Error(`(HTTP code ${answer.status}) ${message.trim()}`)
  }
  return JSON.parse(answer.body) as T
}

function engineReader(env: NodeJS.ProcessEnv): DockerReader {
  return {
    containers: {
      list: (labels) => engineGet<ContainerSummary[]>(env, `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({label: labels}))}`),
    },
    images: {
      labels: async (image) => {
        const info = await engineGet<{Config?: {Labels?: Record<string, string> | null}} | null>(env, `/images/${encodeURIComponent(image)}/json`, null)
        return info ? (info.Config?.Labels ?? {}) : null
      },
    },
  }
}

/** The registry's listings and cluster status over gRPC as this host's user, trying each endpoint in turn until one answers. */
function registryReader(settings: Settings, pki: PkiStore): RegistryReader {
  const endpoints = etcdEndpoints(settings)
  const check = {advertiseIp: settings.advertiseIp || undefined, bridgeIp: settings.bridgeIp || undefined, localHostId: settings.hostId || undefined}
  // As clients.ts: highway's own etcd speaks https only, and without this host's certificate nothing can be asked of it.
  const secure = endpoints.some((endpoint) => endpoint.startsWith('https:'))
  const tls = secure ? (pki.identity('host') ?? undefined) : undefined
  if (secure && !tls) throw noIdentity('host')
  const first = async <T>(ask: (endpoint: string) => Promise<T>): Promise<T> => {
    let last: unknown
    for (const endpoint of endpoints) {
      try {
        return await ask(endpoint)
      } catch (error) {
        last = error
      }
    }
    throw last
  }
  const range = () => first((endpoint) => rangePrefix(endpoint, tls, HOSTS, REGISTRY_CALL_TIMEOUT_MS))
  return {
    clusterStatus: (hostId) => first((endpoint) => clusterStatusAt(endpoint, tls, hostId, REGISTRY_CALL_TIMEOUT_MS)),
    endpoints,
    listAgents: async () => agentReports((await range()).kvs),
    listServices: async () => {
      const {kvs, revision} = await range()
      return serviceListing(kvs, revision, check)
    },
  }
}

export function readClients(env: NodeJS.ProcessEnv): ReadClients {
  const pki = PkiStore.of(env)
  let docker: Promise<DockerReader> | undefined
  return {
    docker() {
      docker ??= (async () => {
        await httpGetSocket(dockerSocketPath(env), '/_ping', REQUEST_TIMEOUT_MS).catch((error: unknown) => {
          throw engineUnreachable(env, error)
        })
        return engineReader(env)
      })()
      return docker
    },
    identity: () => pki.identity('host'),
    registry: (settings) => registryReader(settings, pki),
  }
}

/** What each lean command does and prints: the oclif command's own flow and lines. */
const COMMANDS = {
  ls: async (clients: ReadClients, settings: Settings) => {
    const rows = await listServices(clients, settings)
    return {lines: lsLines(rows), result: rows}
  },
  status: async (clients: ReadClients, settings: Settings) => {
    const status = await collectStatus(clients, settings)
    return {lines: statusLines(settings, status), result: status}
  },
}

/** Whether bin/run.cjs may take this command line here: exactly `ls` or `status`, `--json` or not, on a local engine. */
export function isLean(argv: string[], env: NodeJS.ProcessEnv): boolean {
  const [command, ...flags] = argv
  if (!Object.hasOwn(COMMANDS, command)) return false
  if (!(flags.length === 0 || (flags.length === 1 && flags[0] === '--json'))) return false
  if (env.HIGHWAY_CONTENT_TYPE !== undefined) return false
  return !env.DOCKER_HOST || env.DOCKER_HOST.startsWith('unix://')
}

/** oclif's logJson without oclif: pretty JSON (no theme is configured, so never coloured), one line break after. */
const printJson = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)

/** Runs `ls` or `status` (isLean's command lines) as the oclif command would; returns the exit code. */
export async function leanMain(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const json = argv[1] === '--json'
  try {
    const clients = readClients(env)
    const settings = loadSettings(env)
    const {lines, result} = await COMMANDS[argv[0] as keyof typeof COMMANDS](clients, settings)
    if (json) printJson(result)
    else process.stdout.write(lines.map((line) => `${line}\n`).join(''))
    return 0
  } catch (error) {
    if (!isUserError(error)) throw error
    // As HighwayCommand.catch: the line always on stderr, and under --json the error as data too.
    process.stderr.write(formatUserError(error))
    if (json) printJson({error: {exitCode: error.exitCode, message: error.message, suggestion: error.suggestion ?? null}})
    return error.exitCode
  }
}
