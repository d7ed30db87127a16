import {createHash} from 'node:crypto'
import {isIPv4} from 'node:net'
import {standings} from '../agent/records.js'
import type {ServiceRecord} from '../core/types.js'
import {isDnsLabel, isDomain, isPort} from '../core/validate.js'
import {backendProblem, recordShapeProblem} from '../registry/schema.js'

/** Where the proxy container keeps its rendered files and the master socket (a volume shared with the agent). */
export const RUN_DIR = '/run/highway'
export const CONFIG_PATH = `${RUN_DIR}/haproxy.cfg`
export const MASTER_SOCKET = `${RUN_DIR}/master.sock`
/** Host -> backend. Its path never changes: the running worker's copy is edited at runtime, the file rewritten for the next start. */
export const ROUTES_MAP = `${RUN_DIR}/routes.map`
/** Host -> "unhealthy", for names whose only running containers fail their health check (which 503 page to answer). */
export const STATES_MAP = `${RUN_DIR}/states.map`

/** Response header on every page highway itself answers, so clients and tests can tell them from a service's. */
export const HIGHWAY_HEADER = 'x-highway'
export const NOT_FOUND_BACKEND = 'highway_not_found'
/**
 * HAProxy cannot add a backend at runtime, so the config carries a pool of route backends, and a
 * name is given one through the runtime API (a map entry, its servers added). Only a name that finds
 * the pool full needs a reload, which doubles it.
 */
export const MIN_ROUTE_BACKENDS = 32
export const routeBackend = (slot: number) => `route${slot}`
const slotOf = (backend: string) => Number(backend.slice('route'.length))

export interface ProxyConfigInput {
  domain: string
  records: ServiceRecord[]
  /**
   * The host this proxy runs on. Its own containers on the default bridge are reached at their
   * container address, skipping Docker's userland port proxy (a measurable hop per request);
   * other hosts' containers through their published address.
   */
  localHostId?: string
  /** This host's bridge IP: a server there on one of highway's own ports is dropped. */
  bridgeIp?: string
  /** This host's advertise address: the same holds there. */
  advertiseIp?: string
  /** This host's TCP range: no server there either (it is highway's forwarder). */
  tcpRange?: string
}

/** A server as the proxy holds it, named `c<first 12 hex digits of its container ID>` in its name's backend. */
export interface ProxyServer {
  address: string
  port: number
}

export interface ProxyRoute {
  host: string
  backend: string
  servers: Map<string, ProxyServer>
  /** No server, and running containers that fail their health check: the 503 page says so. */
  unhealthy: boolean
}

/**
 * What the proxy serves: what a reload of the rendered files loads, and what the runtime API moves
 * the running worker to (src/proxy/runtime.ts). Which backend a name has is kept from one state to
 * the next, so a change touches only the names it is about.
 */
export interface ProxyState {
  domain: string
  /** Route backends in the config: only a reload changes it. */
  backends: number
  routes: Map<string, ProxyRoute>
}

export interface RenderedProxyConfig {
  config: string
  /** Host -> backend, written to `mapPath`. */
  map: string
  mapPath: string
  /** Host -> "unhealthy", written to `statesPath`. */
  states: string
  statesPath: string
  /** Identifies the whole rendering: equal hashes mean the proxy serves the same. */
  hash: string
  /** Every server as `backend/server`, the names HAProxy's runtime API takes. */
  servers: string[]
  routes: Route[]
  state: ProxyState
}

export interface Route {
  name: string
  host: string
  servers: Array<{id: string; address: string; port: number}>
  /** Registered containers that are not running: with no servers, the route answers 503. */
  stopped: number
  /** Running containers whose health check fails: no traffic, and the 503 page says why. */
  unhealthy: number
}

/** A record's server name part: the first 12 hex digits of its container ID ('' when it has none). */
export function serverId(record: ServiceRecord): string {
  return record.containerId.replaceAll(/[^a-f0-9]/g, '').slice(0, 12)
}

/**
 * Where a proxy on `localHostId` connects for one of a record's ports: a container of its own host
 * on the default bridge at its container address and port (no docker-proxy hop), any other at its
 * published port. Null when the port holds no usable address (stopped, or not IPv4).
 */
export function serverFor(record: ServiceRecord, port: ServiceRecord['ports'][number], localHostId: string | undefined): ProxyServer | null {
  if (!isIPv4(port.address) || !isPort(port.port)) return null
  const [inside, protocol] = port.containerPort.split('/')
  const direct = record.hostId === localHostId && isIPv4(record.containerIp) && protocol === 'tcp' && isPort(Number(inside))
  return direct ? {address: record.containerIp, port: Number(inside)} : {address: port.address, port: port.port}
}

/**
 * Groups records into one route per name, served by the name's owner and its replicas only: a
 * container that merely carries the same service label gets no traffic (see `standings`). Records
 * that could smuggle syntax into the config (a bad name, a non-IPv4 address, a non-port) are
 * dropped here, whatever wrote them to etcd.
 */
export function routesFrom(input: ProxyConfigInput): Route[] {
  const routes = new Map<string, Route>()
  const named = input.records.filter((record) => isDnsLabel(record.name))
  const standing = standings(named)
  for (const record of named) {
    if (standing.get(record)?.role === 'conflict') continue
    const route = routes.get(record.name) ?? {host: `${record.name}.${input.domain}`, name: record.name, servers: [], stopped: 0, unhealthy: 0}
    routes.set(record.name, route)
    const id = serverId(record)
    const server = record.state === 'running' && record.ports[0] ? serverFor(record, record.ports[0], input.localHostId) : null
    if (server && id) {
      route.servers.push({...server, id})
    } else if (record.state === 'unhealthy') {
      route.unhealthy++
    } else {
      route.stopped++
    }
  }
  // Sorted throughout: the same records in any arrival order render the same config (no needless reload).
  for (const route of routes.values()) route.servers.sort((a, b) => a.id.localeCompare(b.id))
  return [...routes.values()].sort((a, b) => a.name.localeCompare(b.name))
}

/**
 * routesFrom on the records that cannot make it throw, less the servers the proxy must never
 * connect to (itself, a loopback or link-local address, highway's own listeners; see
 * backendProblem) and any second server of one name under the same server id (HAProxy refuses a
 * backend that declares a server twice, and every route would freeze). The registry already
 * refuses such records; this holds whatever wrote them.
 */
function safeRoutes(input: ProxyConfigInput): Route[] {
  const records = input.records.filter((record) => recordShapeProblem(record) === null)
  const order = (a: Route['servers'][number], b: Route['servers'][number]) => a.id.localeCompare(b.id) || a.address.localeCompare(b.address) || a.port - b.port
  return routesFrom({...input, records}).map((route) => {
    const ids = new Set<string>()
    // Sorted by address too, so which duplicate stays does not depend on the records' order.
    const servers = [...route.servers]
      .sort(order)
      .filter((server) => backendProblem(server.address, server.port, input) === null && !ids.has(server.id) && ids.add(server.id))
    return servers.length === route.servers.length ? route : {...route, servers}
  })
}

/** The host a request named, as the route map matched it (so only a registered, validated name reaches a page). */
const REQUEST_HOST = 'req.hdr(host),field(1,:),lower'

function page(status: number, title: string, text: string): string {
  // One double-quoted word for HAProxy: only the validated domain, or a sample of the host the route
  // map matched, ever reaches `text`.
  const html = `<!doctype html><html><head><title>${status} ${title}</title></head><body><h1>${title}</h1><p>${text}</p><hr><p>highway</p></body></html>`
  return `"${html.replaceAll('"', '\\"')}"`
}

/** A page highway answers itself. `lf` pages may name the host (`%[...]` in `text`): HAProxy fills it in per request. */
function answer(status: number, kind: string, title: string, text: string, lf = false): string {
  return `    http-request return status ${status} content-type "text/html; charset=utf-8" hdr ${HIGHWAY_HEADER} ${kind} ${lf ? 'lf-string' : 'string'} ${page(status, title, text)}`
}

const HOST_IN_PAGE = `%[${REQUEST_HOST}]`
const STOPPED_PAGE = answer(503, 'stopped', 'Service not running', `${HOST_IN_PAGE} is registered but none of its containers is running.`, true)
/** Every route backend answers highway's 503 pages once it has no usable server (none registered, all stopped, failing or drained). */
const NO_SERVER_PAGES = [
  `${answer(503, 'unhealthy', 'Service unhealthy', `${HOST_IN_PAGE} is running but its health check fails.`, true)} if { nbsrv lt 1 } { ${REQUEST_HOST},map_str(${STATES_MAP}) -m str unhealthy }`,
  `${STOPPED_PAGE} if { nbsrv lt 1 }`,
  // A request already on its way to the last server when that container exited ends in HAProxy's own
  // 503 once its retries have nowhere to go: highway's page answers it instead.
  STOPPED_PAGE.replace('http-request return', 'http-error'),
]

/** How often HAProxy checks a server it found down (say, checked before its app listened) again, not every UP_RECHECK_S. */
export const DOWN_RECHECK_MS = 100
/**
 * How often HAProxy checks a server it found up: rarely. With `observe layer4` every request is a
 * probe too: a failed connect brings checks every DOWN_RECHECK_MS (`on-error fastinter`), so a dead
 * server leaves about 200 ms after the first request that fails (a 2 s interval took up to 4 s). Not
 * `on-error fail-check` (HAProxy's default): a request that meets a starting container before its app
 * listens then marks the server down itself, and a name polled while it starts went without an answer
 * for up to 3 s (bench/propagation.mjs: p95 1.5 s, once 20 s, against 14 ms).
 * What a short interval found besides, an app gone inside a running container that nobody calls,
 * served nobody, and cost a connect per idle server per interval (20 idle services: 0.2-0.26% of a
 * core, the proxy's whole idle cost). A new server, or one found down, is checked every
 * DOWN_RECHECK_MS until its checks pass (`fastinter`, `downinter`), whatever this is.
 */
export const UP_RECHECK_S = 30
/** The options of every server, whether written in the config or added at runtime. */
export const SERVER_OPTIONS = `check inter ${UP_RECHECK_S}s downinter ${DOWN_RECHECK_MS}ms fastinter ${DOWN_RECHECK_MS}ms fall 2 rise 1 observe layer4 error-limit 1 on-error fastinter`

export const serverName = (id: string) => `c${id}`

/**
 * Gives every route a backend: the one it had in `previous`, else the lowest free one. When the
 * names outgrow the pool, the pool doubles (and the proxy must reload: see ProxySync).
 */
export function layout(domain: string, routes: Route[], previous?: ProxyState): ProxyState {
  let backends = previous?.backends ?? MIN_ROUTE_BACKENDS
  while (routes.length > backends) backends *= 2
  const taken = new Set<string>()
  const kept = new Map<string, string>()
  for (const route of routes) {
    const backend = previous?.routes.get(route.name)?.backend
    if (backend) {
      kept.set(route.name, backend)
      taken.add(backend)
    }
  }
  let next = 0
  const state: ProxyState = {backends, domain, routes: new Map()}
  for (const route of routes) {
    let backend = kept.get(route.name)
    if (!backend) {
      while (taken.has(routeBackend(next))) next++
      backend = routeBackend(next)
      taken.add(backend)
    }
    const servers = new Map(route.servers.map((server) => [serverName(server.id), {address: server.address, port: server.port}]))
    state.routes.set(route.name, {backend, host: route.host, servers, unhealthy: route.servers.length === 0 && route.unhealthy > 0})
  }
  return state
}

/**
 * Renders the proxy's files for the records. With `previous` (what the proxy serves now), every
 * name keeps its backend, so the runtime API can take the proxy from one to the other.
 */
export function renderProxyConfig(input: ProxyConfigInput, previous?: ProxyState): RenderedProxyConfig {
  if (!isDomain(input.domain)) throw new Error(`refusing to render a proxy config for invalid domain "${input.domain}"`)
  const routes = safeRoutes(input)
  const state = layout(input.domain, routes, previous)
  return {...renderState(state), routes}
}

/** What every section inherits: the frontend and the 404 backend from the first defaults section, the route backends from ROUTE_DEFAULTS. */
const DEFAULTS = [
  '    mode http',
  '    log global',
  '    option dontlognull',
  // Without this a reload closes idle keep-alive connections under clients and drops requests.
  '    option idle-close-on-response',
  // A connect refused by a container that is going away is retried on another server; so is a request
  // its server closed without answering (a process ending under it), for the methods that are safe to repeat.
  '    option redispatch',
  '    retries 3',
  '    retry-on conn-failure empty-response',
  // A refused connect is retried after min(timeout connect, 1 s): a short connect timeout keeps a
  // request that races a container's stop from stalling for seconds (backends are on this LAN).
  '    timeout connect 500ms',
  // A check connects within `timeout connect` too (without this, HAProxy gives a check `inter`, 30 s).
  '    timeout check 1s',
  '    timeout client 60s',
  '    timeout server 60s',
  // WebSockets and other upgraded connections live as long as their ends keep them, idle for up to an hour.
  '    timeout tunnel 1h',
  '    timeout client-fin 10s',
  '    timeout http-request 10s',
  '    timeout http-keep-alive 60s',
]

/** The named defaults section of the route backends: HAProxy runs rules only from a named one. */
export const ROUTE_DEFAULTS = 'routes'

/** The files that make HAProxy serve `state` when it (re)starts. */
export function renderState(state: ProxyState): Omit<RenderedProxyConfig, 'routes'> {
  const entries = [...state.routes.values()].sort((a, b) => slotOf(a.backend) - slotOf(b.backend))
  const map = entries.map((route) => `${route.host} ${route.backend}\n`).join('')
  const states = entries
    .filter((route) => route.unhealthy)
    .map((route) => `${route.host} unhealthy\n`)
    .join('')
  const lines = [
    '# Rendered by the highway agent from etcd; edits are overwritten on the next route change.',
    'global',
    '    master-worker',
    '    log stdout format raw local0 notice',
    '',
    'defaults',
    ...DEFAULTS,
    '',
    'frontend http',
    '    bind :80',
    '    http-request disable-l7-retry if !METH_GET !METH_HEAD',
    // One map lookup per request, whatever the number of routes; the port in Host is ignored.
    `    use_backend %[${REQUEST_HOST},map_str(${ROUTES_MAP},${NOT_FOUND_BACKEND})]`,
    `    default_backend ${NOT_FOUND_BACKEND}`,
    '',
    `backend ${NOT_FOUND_BACKEND}`,
    answer(404, 'not-found', 'No such service', `No service is registered under this name in the ${state.domain} domain.`),
    '',
    // Every section below takes its settings from this one, the last before it. Its rules run before
    // each route backend's own (none), and HAProxy keeps them once here, where the same three pages
    // written in every backend were compiled once per backend: about 8 MiB of the proxy's memory with
    // the 1,024 backends of 1,000 names.
    `defaults ${ROUTE_DEFAULTS}`,
    ...DEFAULTS,
    ...NO_SERVER_PAGES,
  ]
  const byBackend = new Map(entries.map((route) => [route.backend, route]))
  const servers: string[] = []
  for (let slot = 0; slot < state.backends; slot++) {
    const backend = routeBackend(slot)
    lines.push('', `backend ${backend}`)
    const route = byBackend.get(backend)
    if (!route) continue
    for (const [name, server] of [...route.servers].sort(([a], [b]) => a.localeCompare(b))) {
      lines.push(`    server ${name} ${server.address}:${server.port} ${SERVER_OPTIONS}`)
      servers.push(`${backend}/${name}`)
    }
  }
  const config = `${lines.join('\n')}\n`
  const hash = createHash('sha256').update(config).update(map).update(states).digest('hex').slice(0, 16)
  return {config, hash, map, mapPath: ROUTES_MAP, servers, state, states, statesPath: STATES_MAP}
}
