import type {ReadClients} from '../clients.js'
import {formatUserError, isUserError} from '../core/errors.js'
import {httpGetSocket} from '../core/http.js'
import {etcdEndpoints, loadSettings} from '../core/settings.js'
import type {Settings} from '../core/types.js'
import {API_VERSION, dockerSocketPath, engineUnreachable, REQUEST_TIMEOUT_MS} from '../docker/summary.js'
import type {ContainerSummary, DockerReader} from '../docker/types.js'
import {rangePrefix} from '../registry/grpc-range.js'
import {PkiStore} from '../registry/pki.js'
import {agentReports, REGISTRY_CALL_TIMEOUT_MS, serviceListing, type RegistryReader} from '../registry/registry.js'
import {HOSTS} from '../registry/schema.js'
import {listServices} from '../service/list.js'
import {lsLines} from './render.js'

/**
 * bin/run.js's lean path for `highway ls` (with or without `--json`): the same flow
 * (service/list.ts) and the same lines (render.ts) as the oclif command,
 * on clients that load neither oclif, dockerode nor etcd3: the engine's HTTP API on its unix
 * socket, and etcd's KV/Range on node's HTTP/2 (registry/grpc-range.ts). Anything else (other
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

/** The registry's listings over gRPC, trying each endpoint in turn until one answers. */
function registryReader(settings: Settings, pki: PkiStore): RegistryReader {
  const endpoints = etcdEndpoints(settings)
  const check = {bridgeIp: settings.bridgeIp || undefined}
  const range = async () => {
    const secure = endpoints.some((endpoint) => endpoint.startsWith('https:'))
    const tls = secure ? (pki.identity('host') ?? undefined) : undefined
    let last: unknown
    for (const endpoint of endpoints) {
      try {
        return await rangePrefix(endpoint, tls, HOSTS, REGISTRY_CALL_TIMEOUT_MS)
      } catch (error) {
        last = error
      }
    }
    throw last
  }
  return {
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

/**
 * Whether bin/run.js may take this command line here: exactly `ls`, `--json` or not, on a local
 * engine. Not `status`: it asks etcd's cluster API too (members, leader, this host's lease), which
 * takes the full client.
 */
export function isLean(argv: string[], env: NodeJS.ProcessEnv): boolean {
  const [command, ...flags] = argv
  if (command !== 'ls') return false
  if (!(flags.length === 0 || (flags.length === 1 && flags[0] === '--json'))) return false
  if (env.HIGHWAY_CONTENT_TYPE !== undefined) return false
  return !env.DOCKER_HOST || env.DOCKER_HOST.startsWith('unix://')
}

/** oclif's logJson without oclif: pretty JSON (no theme is configured, so never coloured), one line break after. */
const printJson = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)

/** Runs `ls` as the oclif command would; returns the exit code. */
export async function leanMain(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const json = argv[1] === '--json'
  try {
    const clients = readClients(env)
    const settings = loadSettings(env)
    const result = await listServices(clients, settings)
    if (json) printJson(result)
    else
      process.stdout.write(
        lsLines(result)
          .map((line) => `${line}\n`)
          .join(''),
      )
    return 0
  } catch (error) {
    if (!isUserError(error)) throw error
    // As HighwayCommand.catch: the line always on stderr, and under --json the error as data too.
    process.stderr.write(formatUserError(error))
    if (json) printJson({error: {exitCode: error.exitCode, message: error.message, suggestion: error.suggestion ?? null}})
    return error.exitCode
  }
}
