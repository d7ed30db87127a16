import {ROUTES_MAP, SERVER_OPTIONS, STATES_MAP, type ProxyServer, type ProxyState} from './haproxy.js'

/**
 * What the running HAProxy worker holds: the state it serves, and servers taken out of rotation that
 * it still keeps because connections were attached when they left (HAProxy deletes a server only
 * once none is). Those are deleted again on the next change, or on a timer while any remain.
 */
export interface LiveProxy {
  state: ProxyState
  /** `backend/server` -> where it pointed. */
  leaving: Map<string, ProxyServer>
}

export interface RuntimePlan {
  /** Runtime API commands that must all succeed, in order: servers in, names in, names out, servers out. */
  commands: string[]
  /** `backend/server` to delete, each on its own: HAProxy refuses while connections remain. */
  deletions: string[]
  /** What the worker holds once `commands` succeeded and before any deletion. */
  next: LiveProxy
}

const sameServer = (a: ProxyServer, b: ProxyServer) => a.address === b.address && a.port === b.port

/**
 * The runtime API commands that take the worker from `live` to `next` without a reload. `next` must
 * come from `layout` with `live.state` as its previous state (same pool, every name kept on its
 * backend). Servers go in before a name is switched on, and out only after every addition: a
 * replacement is serving before the container it replaces stops taking new requests. A server taken
 * out goes into maintenance first: it gets no new request, the ones in flight finish.
 */
export function planRuntime(live: LiveProxy, next: ProxyState): RuntimePlan {
  if (next.backends !== live.state.backends) throw new Error('the pool of route backends changed: that takes a reload')
  const serversIn: string[] = []
  const namesIn: string[] = []
  const namesOut: string[] = []
  const serversOut: string[] = []
  const leaving = new Map(live.leaving)
  for (const [name, route] of next.routes) {
    const before = live.state.routes.get(name)
    const had = before?.backend === route.backend ? before.servers : new Map<string, ProxyServer>()
    for (const [server, target] of route.servers) {
      const key = `${route.backend}/${server}`
      const current = had.get(server) ?? leaving.get(key)
      if (current && !sameServer(current, target)) serversIn.push(`set server ${key} addr ${target.address} port ${target.port}`)
      if (leaving.delete(key)) serversIn.push(`set server ${key} state ready`)
      else if (!current) serversIn.push(`add server ${key} ${target.address}:${target.port} ${SERVER_OPTIONS}`, `enable health ${key}`, `enable server ${key}`)
    }
    if (!before) namesIn.push(`add map ${ROUTES_MAP} ${route.host} ${route.backend}`)
    if (route.unhealthy && !before?.unhealthy) namesIn.push(`add map ${STATES_MAP} ${route.host} unhealthy`)
    if (!route.unhealthy && before?.unhealthy) namesIn.push(`del map ${STATES_MAP} ${route.host}`)
  }
  for (const [name, before] of live.state.routes) {
    const after = next.routes.get(name)
    if (!after) {
      namesOut.push(`del map ${ROUTES_MAP} ${before.host}`)
      if (before.unhealthy) namesOut.push(`del map ${STATES_MAP} ${before.host}`)
    }
    for (const [server, target] of before.servers) {
      if (after?.backend === before.backend && after.servers.has(server)) continue
      const key = `${before.backend}/${server}`
      serversOut.push(`set server ${key} state maint`)
      leaving.set(key, target)
    }
  }
  return {commands: [...serversIn, ...namesIn, ...namesOut, ...serversOut], deletions: [...leaving.keys()], next: {leaving, state: next}}
}
