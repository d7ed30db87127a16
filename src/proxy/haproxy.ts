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

/** Response header on every page highway itself answers, so clients and tests can tell them from a service's. */
export const HIGHWAY_HEADER = 'x-highway'
export const NOT_FOUND_BACKEND = 'highway_not_found'
/**
 * Empty backends in every config: a brand-new name is switched on in one of them through the runtime
 * API at once, while the reload to the canonical config follows (HAProxy cannot add a backend at runtime).
 */
export const SPARE_BACKENDS = ['highway_spare0', 'highway_spare1', 'highway_spare2', 'highway_spare3']

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
}

export interface RenderedProxyConfig {
  config: string
  /** Host -> backend map, written beside the config under `mapPath`. */
  map: string
  mapPath: string
  /** Identifies the whole rendering: equal hashes mean nothing to reload. */
  hash: string
  /** Every server as `backend/server`, the names HAProxy's runtime API takes. */
  servers: string[]
  routes: Route[]
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
    const port = record.ports[0]
    const id = record.containerId.replaceAll(/[^a-f0-9]/g, '').slice(0, 12)
    if (record.state === 'running' && port && isIPv4(port.address) && isPort(port.port) && id) {
      const [inside, protocol] = port.containerPort.split('/')
      const direct = record.hostId === input.localHostId && isIPv4(record.containerIp) && protocol === 'tcp' && isPort(Number(inside))
      route.servers.push(direct ? {address: record.containerIp, id, port: Number(inside)} : {address: port.address, id, port: port.port})
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

function page(status: number, title: string, text: string): string {
  // HAProxy's `string` argument is one double-quoted word: only names validated above reach `text`.
  const html = `<!doctype html><html><head><title>${status} ${title}</title></head><body><h1>${title}</h1><p>${text}</p><hr><p>highway</p></body></html>`
  return `"${html.replaceAll('"', '\\"')}"`
}

function answer(status: number, kind: string, title: string, text: string): string {
  return `    http-request return status ${status} content-type "text/html; charset=utf-8" hdr ${HIGHWAY_HEADER} ${kind} string ${page(status, title, text)}`
}

export function renderProxyConfig(input: ProxyConfigInput): RenderedProxyConfig {
  if (!isDomain(input.domain)) throw new Error(`refusing to render a proxy config for invalid domain "${input.domain}"`)
  const routes = safeRoutes(input)
  const map = routes.map((route) => `${route.host} svc_${route.name}\n`).join('')
  const mapHash = createHash('sha256').update(map).digest('hex').slice(0, 12)
  const mapPath = `${RUN_DIR}/routes-${mapHash}.map`

  const lines = [
    '# Rendered by the highway agent from etcd; edits are overwritten on the next route change.',
    'global',
    '    master-worker',
    '    log stdout format raw local0 notice',
    // Old workers finish their requests after a reload, but never linger forever.
    '    hard-stop-after 30s',
    '',
    'defaults',
    '    mode http',
    '    log global',
    '    option dontlognull',
    // Without this a reload closes idle keep-alive connections under clients and drops requests.
    '    option idle-close-on-response',
    '    option redispatch',
    // A refused connect is retried after min(timeout connect, 1 s): a short connect timeout keeps a
    // request that races a container's stop from stalling for seconds (backends are on this LAN).
    '    retries 3',
    '    timeout connect 500ms',
    '    timeout client 60s',
    '    timeout server 60s',
    '    timeout http-request 10s',
    '    timeout http-keep-alive 60s',
    '',
    'frontend http',
    '    bind :80',
  ]
  // One map lookup per request, whatever the number of routes; the port in Host is ignored. Even with
  // no routes the (empty) map is loaded: new names are added to the running one at runtime.
  lines.push(`    use_backend %[req.hdr(host),field(1,:),lower,map_str(${mapPath},${NOT_FOUND_BACKEND})]`)
  lines.push(
    `    default_backend ${NOT_FOUND_BACKEND}`,
    '',
    `backend ${NOT_FOUND_BACKEND}`,
    answer(404, 'not-found', 'No such service', `No service is registered under this name in the ${input.domain} domain.`),
  )
  for (const spare of SPARE_BACKENDS) lines.push('', `backend ${spare}`)
  const servers: string[] = []
  for (const route of routes) {
    lines.push('', `backend svc_${route.name}`)
    if (route.servers.length === 0) {
      lines.push(
        route.unhealthy > 0
          ? answer(503, 'unhealthy', 'Service unhealthy', `${route.host} is running but its health check fails.`)
          : answer(503, 'stopped', 'Service not running', `${route.host} is registered but its container is not running.`),
      )
      continue
    }
    // When every server is out (put in maintenance at runtime the moment its container dies, or
    // failing its checks), highway's page answers rather than HAProxy's bare 503.
    lines.push(
      answer(503, 'stopped', 'Service not running', `${route.host} is registered but none of its containers is running.`).replace(/$/, ' if { nbsrv lt 1 }'),
    )
    for (const server of route.servers) {
      // A server found down (say, checked before its app listened) is rechecked every 100 ms, not 2 s.
      lines.push(`    server c${server.id} ${server.address}:${server.port} check inter 2s downinter 100ms fastinter 100ms fall 2 rise 1`)
      servers.push(`svc_${route.name}/c${server.id}`)
    }
  }
  const config = `${lines.join('\n')}\n`
  const hash = createHash('sha256').update(config).update(map).digest('hex').slice(0, 16)
  return {config, hash, map, mapPath, routes, servers}
}
