import {httpHeaders} from '../core/http.js'
import {INFRA_PORTS, type Settings} from '../core/types.js'
import {parseRange, probeAddress} from '../tcp/addresses.js'
import {HIGHWAY_HEADER} from './haproxy.js'

/**
 * Questions to the running proxy over HTTP, the way a user's client would ask them. highway's own
 * answers carry the x-highway header, so "not routed", "registered but stopped" and "the service
 * answered" are told apart without parsing pages. `up` and `status` ask whether the proxy answers;
 * `run -d` asks whether a name is routed yet.
 */
export type RouteState = 'none' | 'routed' | 'stopped'

/** What the proxy on `bridgeIp` says about a host name: not routed, registered but stopped, or routed. */
export async function routeState(bridgeIp: string, host: string, options: {port?: number; timeoutMs?: number} = {}): Promise<RouteState> {
  const kind = (await httpHeaders(bridgeIp, options.port ?? INFRA_PORTS.http, host, '/', options.timeoutMs ?? 1000)).headers[HIGHWAY_HEADER]
  if (kind === 'not-found') return 'none'
  if (kind === 'stopped') return 'stopped'
  return 'routed'
}

/** A name under a reserved TLD: the proxy answers it with highway's own 404, never reaching a container. */
export const PROBE_HOST = 'highway-probe.invalid'

/**
 * The TCP forwarder, checked end to end: HTTP to highway's own address in the range goes through the
 * range's route and the forwarder to the proxy. Not from a host that reaches highway on a host-side
 * address (Docker Desktop and the like): the range is local to the engine's machine, not this one.
 */
export async function probeForwarder(settings: Pick<Settings, 'hostIp' | 'tcpRange'>): Promise<string> {
  if (!settings.tcpRange) throw new Error('TCP by name is off (up --tcp-range none)')
  if (settings.hostIp) return 'serving containers (its addresses are not reachable from this host)'
  const address = probeAddress(parseRange(settings.tcpRange))
  await probeProxy(address)
  return `answering on ${address}`
}

/** The proxy is up when PROBE_HOST gets highway's own 404 page. */
export async function probeProxy(bridgeIp: string): Promise<string> {
  const state = await routeState(bridgeIp, PROBE_HOST, {timeoutMs: 2000})
  if (state !== 'none') throw new Error(`unexpected answer (${state}) from ${bridgeIp}:${INFRA_PORTS.http}`)
  return 'answering'
}
