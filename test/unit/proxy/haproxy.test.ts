import {createHash} from 'node:crypto'
import {describe, expect, it} from 'vitest'
import type {ServiceRecord} from '../../../src/core/types.js'
import {MIN_ROUTE_BACKENDS, NOT_FOUND_BACKEND, renderProxyConfig, routesFrom, type RenderedProxyConfig} from '../../../src/proxy/haproxy.js'
import {BRIDGE_IP, IDS, makeRecord} from '../support/highway-fixtures.js'

/** The config's sections by header line ("frontend http", "backend route0"), each with its indented body. */
function sections(config: string): Map<string, string[]> {
  const result = new Map<string, string[]>()
  for (const block of config.trimEnd().split('\n\n')) {
    const lines = block.split('\n').filter((line) => !line.startsWith('#'))
    const [header, ...body] = lines
    expect(result.has(header), `section "${header}" appears twice`).toBe(false)
    result.set(header, body)
  }
  return result
}

function headers(config: string): string[] {
  return [...sections(config).keys()]
}

const serverLine = (id: string, address: string, port: number) =>
  `    server c${id.slice(0, 12)} ${address}:${port} check inter 30s downinter 100ms fastinter 100ms fall 2 rise 1 observe layer4 error-limit 1 on-error fastinter`

const page404 = (domain: string) =>
  `    http-request return status 404 content-type "text/html; charset=utf-8" hdr x-highway not-found string ` +
  `"<!doctype html><html><head><title>404 No such service</title></head><body><h1>No such service</h1>` +
  `<p>No service is registered under this name in the ${domain} domain.</p><hr><p>highway</p></body></html>"`

/** The rules every route backend runs first, from their defaults section: highway's 503 pages, naming the host the request asked for, once no server is usable. */
const NO_SERVER = [
  `    http-request return status 503 content-type "text/html; charset=utf-8" hdr x-highway unhealthy lf-string ` +
    `"<!doctype html><html><head><title>503 Service unhealthy</title></head><body><h1>Service unhealthy</h1>` +
    `<p>%[req.hdr(host),field(1,:),lower] is running but its health check fails.</p><hr><p>highway</p></body></html>" ` +
    `if { nbsrv lt 1 } { req.hdr(host),field(1,:),lower,map_str(/run/highway/states.map) -m str unhealthy }`,
  `    http-request return status 503 content-type "text/html; charset=utf-8" hdr x-highway stopped lf-string ` +
    `"<!doctype html><html><head><title>503 Service not running</title></head><body><h1>Service not running</h1>` +
    `<p>%[req.hdr(host),field(1,:),lower] is registered but none of its containers is running.</p><hr><p>highway</p></body></html>" if { nbsrv lt 1 }`,
  // The same page for HAProxy's own 503 (a request on its way to the last server when it exited).
  `    http-error status 503 content-type "text/html; charset=utf-8" hdr x-highway stopped lf-string ` +
    `"<!doctype html><html><head><title>503 Service not running</title></head><body><h1>Service not running</h1>` +
    `<p>%[req.hdr(host),field(1,:),lower] is registered but none of its containers is running.</p><hr><p>highway</p></body></html>"`,
]

/** The route backends of a config with no more names than the smallest pool. */
const POOL = Array.from({length: MIN_ROUTE_BACKENDS}, (_, slot) => `backend route${slot}`)
const FIXED = ['global', 'defaults', 'frontend http', `backend ${NOT_FOUND_BACKEND}`, 'defaults routes']

/** The body of the backend `name` was given. */
function backendOf(rendered: RenderedProxyConfig, name: string): string[] | undefined {
  const backend = rendered.state.routes.get(name)?.backend
  return backend ? sections(rendered.config).get(`backend ${backend}`) : undefined
}

const web1 = makeRecord()
const web2 = makeRecord({containerId: IDS.web2, containerName: 'web-2', replica: true, ports: [{containerPort: '80/tcp', address: BRIDGE_IP, port: 49_154}]})
const api = makeRecord({
  containerId: IDS.api,
  containerName: 'api',
  hostId: 'hostb',
  hostName: 'host-b',
  name: 'api',
  ports: [{containerPort: '8080/tcp', address: '10.0.0.12', port: 32_768}],
})
const dbStopped = makeRecord({
  containerId: IDS.db,
  containerName: 'db',
  name: 'db',
  ports: [{containerPort: '5432/tcp', address: BRIDGE_IP, port: 0}],
  state: 'stopped',
})

describe('routesFrom', () => {
  it('groups records into one route per name, servers for running ones, a stopped count for the rest', () => {
    expect(routesFrom({domain: 'local', records: [web1, dbStopped, api, web2]})).toEqual([
      {host: 'api.local', name: 'api', servers: [{address: '10.0.0.12', id: '3c3c3c3c3c3c', port: 32_768}], stopped: 0, unhealthy: 0},
      {host: 'db.local', name: 'db', servers: [], stopped: 1, unhealthy: 0},
      {
        host: 'web.local',
        name: 'web',
        servers: [
          {address: BRIDGE_IP, id: '1a1a1a1a1a1a', port: 49_153},
          {address: BRIDGE_IP, id: '2b2b2b2b2b2b', port: 49_154},
        ],
        stopped: 0,
        unhealthy: 0,
      },
    ])
  })

  it('sorts routes by name whatever the input order', () => {
    const names = ['zeta', 'alpha', 'm-1', 'm0', 'beta2', 'beta']
    const records = names.map((name, index) => makeRecord({containerId: `${index}`.repeat(64), name}))
    expect(routesFrom({domain: 'test', records}).map((route) => route.name)).toEqual(['alpha', 'beta', 'beta2', 'm-1', 'm0', 'zeta'])
  })

  it('counts a registered running container without a usable port as stopped', () => {
    const routes = routesFrom({
      domain: 'local',
      records: [makeRecord({ports: []}), makeRecord({containerId: IDS.web2, ports: [{containerPort: '80/tcp', address: BRIDGE_IP, port: 0}], replica: true})],
    })
    expect(routes).toEqual([{host: 'web.local', name: 'web', servers: [], stopped: 2, unhealthy: 0}])
  })

  it('sorts the servers of a route by server id whatever the input order', () => {
    const ids = ['9f' + '0'.repeat(62), '0a' + '0'.repeat(62), '5c' + '0'.repeat(62)]
    const routes = routesFrom({domain: 'local', records: ids.map((containerId) => makeRecord({containerId, replica: true}))})
    expect(routes[0].servers.map((server) => server.id)).toEqual(['0a0000000000', '5c0000000000', '9f0000000000'])
  })

  it('uses only the first port of a record', () => {
    const record = makeRecord({
      ports: [
        {containerPort: '8080/tcp', address: BRIDGE_IP, port: 40_000},
        {containerPort: '80/tcp', address: BRIDGE_IP, port: 40_001},
      ],
    })
    expect(routesFrom({domain: 'local', records: [record]})[0].servers).toEqual([{address: BRIDGE_IP, id: '1a1a1a1a1a1a', port: 40_000}])
  })

  it.each([
    ['a newline and a backend', 'web\nbackend evil'],
    ['a double quote', 'we"b'],
    ['upper case', 'Web'],
    ['a leading hyphen', '-web'],
    ['a trailing newline', 'web\n'],
    ['a space', 'web x'],
    ['a dot', 'web.evil'],
    ['the empty string', ''],
    ['64 characters', 'a'.repeat(64)],
  ])('drops a record whose name has %s', (_what, name) => {
    expect(routesFrom({domain: 'local', records: [makeRecord({name})]})).toEqual([])
  })

  it.each([
    ['a config line smuggled after the address', '1.2.3.4 check\nbackend x'],
    ['an IPv6 address', '::1'],
    ['a host name', 'localhost'],
    ['an address with a port', '1.2.3.4:80'],
    ['an out-of-range octet', '256.1.1.1'],
    ['the empty string', ''],
  ])('keeps the route but serves no server for an address with %s', (_what, address) => {
    const routes = routesFrom({domain: 'local', records: [makeRecord({ports: [{containerPort: '80/tcp', address, port: 8080}]})]})
    expect(routes).toEqual([{host: 'web.local', name: 'web', servers: [], stopped: 1, unhealthy: 0}])
  })

  it.each([0, -1, 65_536, 80.5, Number.NaN])('counts port %s as no server', (port) => {
    const routes = routesFrom({domain: 'local', records: [makeRecord({ports: [{containerPort: '80/tcp', address: BRIDGE_IP, port}]})]})
    expect(routes).toEqual([{host: 'web.local', name: 'web', servers: [], stopped: 1, unhealthy: 0}])
  })

  it('takes the server id from the hex characters of the container id only', () => {
    const routes = routesFrom({
      domain: 'local',
      records: [makeRecord({containerId: 'deadbeef\nbackend x'}), makeRecord({containerId: 'zzzz-xyz-qq', containerName: 'other', replica: true})],
    })
    // "backend x" leaves b, a, c, e, d; a container id with no hex at all gives no server.
    expect(routes).toEqual([{host: 'web.local', name: 'web', servers: [{address: BRIDGE_IP, id: 'deadbeefbace', port: 49_153}], stopped: 1, unhealthy: 0}])
  })
})

describe('routesFrom: names are owned', () => {
  const owner = makeRecord({containerId: IDS.web1, createdAt: '2026-11-27T09:00:00.000000000Z'})
  const squatter = makeRecord({
    containerId: IDS.web2,
    containerName: 'squat',
    createdAt: '2026-11-27T10:00:00.000000000Z',
    ports: [{containerPort: '80/tcp', address: BRIDGE_IP, port: 49_154}],
  })
  const replica = makeRecord({
    containerId: IDS.api,
    containerName: 'web-2',
    createdAt: '2026-11-27T11:00:00.000000000Z',
    ports: [{containerPort: '80/tcp', address: BRIDGE_IP, port: 49_155}],
    replica: true,
  })
  const serverIds = (records: ServiceRecord[]) => routesFrom({domain: 'local', records})[0].servers.map((server) => server.id)

  it('serves the owner and its replicas, never a container that merely carries the label', () => {
    expect(serverIds([squatter, replica, owner])).toEqual([IDS.web1.slice(0, 12), IDS.api.slice(0, 12)])
  })

  it('renders the same config from the same records in any order', () => {
    const one = renderProxyConfig({domain: 'local', records: [owner, squatter, replica]})
    const other = renderProxyConfig({domain: 'local', records: [replica, squatter, owner]})
    expect(other.hash).toBe(one.hash)
    expect(one.servers).toEqual([`route0/c${IDS.web1.slice(0, 12)}`, `route0/c${IDS.api.slice(0, 12)}`])
  })

  it('hands the name on while the owner is stopped, and back when it runs again', () => {
    const stopped = {...owner, ports: [{containerPort: '80/tcp', address: BRIDGE_IP, port: 0}], state: 'stopped' as const}
    expect(serverIds([stopped, squatter, replica])).toEqual([IDS.web2.slice(0, 12), IDS.api.slice(0, 12)])
    expect(serverIds([owner, squatter, replica])).toEqual([IDS.web1.slice(0, 12), IDS.api.slice(0, 12)])
  })

  it('keeps an unhealthy owner’s name: its 503 page, not the squatter', () => {
    const sick = {...owner, state: 'unhealthy' as const}
    expect(routesFrom({domain: 'local', records: [sick, squatter]})).toEqual([{host: 'web.local', name: 'web', servers: [], stopped: 0, unhealthy: 1}])
  })
})

describe('renderProxyConfig', () => {
  const records = [web2, dbStopped, api, web1]
  const rendered = renderProxyConfig({domain: 'local', records})

  it('gives each name a route backend, in name order on a first rendering, and maps its host there', () => {
    expect(rendered.map).toBe('api.local route0\ndb.local route1\nweb.local route2\n')
    expect(rendered.mapPath).toBe('/run/highway/routes.map')
  })

  it('routes by the Host header through the map, with the 404 backend as default, and retries only what is safe to repeat', () => {
    expect(sections(rendered.config).get('frontend http')).toEqual([
      '    bind :80',
      '    http-request disable-l7-retry if !METH_GET !METH_HEAD',
      '    use_backend %[req.hdr(host),field(1,:),lower,map_str(/run/highway/routes.map,highway_not_found)]',
      '    default_backend highway_not_found',
    ])
  })

  it('has the fixed sections, then the whole pool of route backends, used or not', () => {
    expect(headers(rendered.config)).toEqual([...FIXED, ...POOL])
    expect(sections(rendered.config).get('global')).toContain('    master-worker')
    expect(sections(rendered.config).get('defaults')).toContain('    mode http')
  })

  it('gives the route backends highway’s 503 pages from their own defaults section, once, not in each backend', () => {
    const parts = sections(rendered.config)
    expect(parts.get('defaults routes')).toEqual([...parts.get('defaults')!, ...NO_SERVER])
    expect(rendered.config.split('\n').filter((line) => line.includes('status 503'))).toHaveLength(NO_SERVER.length)
  })

  it('never stops an old worker by force, and keeps the options that make a reload and a departing container safe for clients', () => {
    // A reload is rare (agent start, pool growth): its old worker keeps its connections until they end.
    expect(rendered.config).not.toContain('hard-stop-after')
    expect(sections(rendered.config).get('defaults')).toEqual(
      expect.arrayContaining([
        '    option idle-close-on-response',
        '    option redispatch',
        '    retry-on conn-failure empty-response',
        '    timeout tunnel 1h',
      ]),
    )
  })

  it('answers unknown names with a 404 page naming the domain', () => {
    expect(sections(rendered.config).get('backend highway_not_found')).toEqual([page404('local')])
  })

  it('answers a registered name with no running container with the 503 page, and lists no unhealthy name', () => {
    expect(backendOf(rendered, 'db')).toEqual([])
    expect(rendered.states).toBe('')
  })

  it('gives an unhealthy container no traffic, and marks its name unhealthy for the 503 page', () => {
    const sick = renderProxyConfig({domain: 'local', records: [{...api, state: 'unhealthy'}]})
    expect(backendOf(sick, 'api')).toEqual([])
    expect(sick.states).toBe('api.local unhealthy\n')
    expect(sick.statesPath).toBe('/run/highway/states.map')
    // A healthy sibling keeps serving: only the failing container is left out, and the name is not marked.
    const mixed = renderProxyConfig({domain: 'local', records: [{...web1, state: 'unhealthy'}, web2]})
    expect(backendOf(mixed, 'web')).toEqual([serverLine(IDS.web2, BRIDGE_IP, 49_154)])
    expect(mixed.states).toBe('')
  })

  it('names every server as backend/server for the runtime API', () => {
    expect(rendered.servers).toEqual([`route0/c${IDS.api.slice(0, 12)}`, `route2/c${IDS.web1.slice(0, 12)}`, `route2/c${IDS.web2.slice(0, 12)}`])
  })

  it('lists every running container of one name as a server of its backend, sorted by container id', () => {
    expect(backendOf(rendered, 'web')).toEqual([serverLine(IDS.web1, BRIDGE_IP, 49_153), serverLine(IDS.web2, BRIDGE_IP, 49_154)])
    expect(backendOf(rendered, 'api')).toEqual([serverLine(IDS.api, '10.0.0.12', 32_768)])
  })

  it('serves the running containers of a name some of whose containers are stopped', () => {
    const stoppedWeb = makeRecord({containerId: IDS.db, ports: [{containerPort: '80/tcp', address: BRIDGE_IP, port: 0}], state: 'stopped'})
    expect(backendOf(renderProxyConfig({domain: 'local', records: [stoppedWeb, web1]}), 'web')).toEqual([serverLine(IDS.web1, BRIDGE_IP, 49_153)])
  })

  it('ends the config with a newline and has no trailing whitespace on any line', () => {
    expect(rendered.config.endsWith('\n')).toBe(true)
    expect(rendered.config.split('\n').filter((line) => /\s$/.test(line))).toEqual([])
  })

  it('loads empty maps when there are no routes, so names can be added to them at runtime', () => {
    const empty = renderProxyConfig({domain: 'local', records: []})
    expect([empty.map, empty.states]).toEqual(['', ''])
    expect(headers(empty.config)).toEqual([...FIXED, ...POOL])
    for (const header of POOL) expect(sections(empty.config).get(header)).toEqual([])
  })

  it('maps no name when every record is invalid', () => {
    const none = renderProxyConfig({domain: 'local', records: [makeRecord({name: 'bad name'}), makeRecord({name: 'x"y'})]})
    expect(none.map).toBe('')
    expect(none.servers).toEqual([])
  })

  it('keeps smuggled syntax out of the config and the map', () => {
    const evil = [
      makeRecord({name: 'web\nbackend evil\n    server x 6.6.6.6:80'}),
      makeRecord({name: 'quote"d'}),
      makeRecord({containerId: IDS.api, name: 'api', ports: [{containerPort: '80/tcp', address: '1.2.3.4 check\nbackend x', port: 80}]}),
      makeRecord({containerId: IDS.db, name: 'db', ports: [{containerPort: '80/tcp', address: BRIDGE_IP, port: 1e6}]}),
    ]
    const {config, map} = renderProxyConfig({domain: 'local', records: evil})
    expect(headers(config)).toEqual([...FIXED, ...POOL])
    expect(map).toBe('api.local route0\ndb.local route1\n')
    expect(config).not.toMatch(/evil|6\.6\.6\.6|1\.2\.3\.4|backend x|quote|1000000/)
    expect(config.split('\n').filter((line) => /^ *server /.test(line))).toEqual([])
  })

  it('uses the domain in hosts and the 404 page', () => {
    const {config, map} = renderProxyConfig({domain: 'dev.example.test', records: [web1]})
    expect(map).toBe('web.dev.example.test route0\n')
    expect(sections(config).get('backend highway_not_found')).toEqual([page404('dev.example.test')])
  })

  it.each(['Local', 'local\nbackend x', '', 'local.', '.local', 'lo cal', 'lo"cal'])('refuses the invalid domain %j', (domain) => {
    expect(() => renderProxyConfig({domain, records: [web1]})).toThrow(`refusing to render a proxy config for invalid domain "${domain}"`)
  })
})

describe('renderProxyConfig from a previous state', () => {
  const first = renderProxyConfig({domain: 'local', records: [web1, api, dbStopped]})

  it('keeps every name on its backend, and gives a new name the lowest free one', () => {
    const cache = makeRecord({containerId: 'e'.repeat(64), name: 'cache'})
    // db left, cache came: cache takes db's backend, the others stay where they were.
    const next = renderProxyConfig({domain: 'local', records: [cache, web1, api]}, first.state)
    expect(next.map).toBe('api.local route0\ncache.local route1\nweb.local route2\n')
  })

  it('doubles the pool when the names outgrow it, keeping every name on its backend', () => {
    const many = Array.from({length: MIN_ROUTE_BACKENDS + 1}, (_, index) => makeRecord({containerId: index.toString(16).padStart(64, '7'), name: `s${index}`}))
    const grown = renderProxyConfig({domain: 'local', records: [web1, ...many]}, first.state)
    expect(grown.state.backends).toBe(MIN_ROUTE_BACKENDS * 2)
    expect(grown.state.routes.get('web')?.backend).toBe('route2')
    expect(new Set([...grown.state.routes.values()].map((route) => route.backend)).size).toBe(MIN_ROUTE_BACKENDS + 2)
  })
})

describe('renderProxyConfig hash', () => {
  const records = [web1, web2, api, dbStopped]
  const base = renderProxyConfig({domain: 'local', records})

  it('is 16 hex characters over the config and both maps', () => {
    expect(base.hash).toBe(createHash('sha256').update(base.config).update(base.map).update(base.states).digest('hex').slice(0, 16))
  })

  it('is the same for the same input, and for a deep copy of it', () => {
    expect(renderProxyConfig({domain: 'local', records}).hash).toBe(base.hash)
    const copy = JSON.parse(JSON.stringify(records)) as ServiceRecord[]
    expect(renderProxyConfig({domain: 'local', records: copy})).toEqual(base)
  })

  it('does not change when only updatedAt changes (it is not in the config)', () => {
    const touched = records.map((record) => ({...record, updatedAt: '2030-01-01T00:00:00.000Z'}))
    const again = renderProxyConfig({domain: 'local', records: touched})
    expect(again.config).toBe(base.config)
    expect(again.hash).toBe(base.hash)
  })

  it('does not change when only the host name or container ip changes', () => {
    const touched = records.map((record) => ({...record, containerIp: '172.17.0.99', hostName: 'renamed'}))
    expect(renderProxyConfig({domain: 'local', records: touched}).hash).toBe(base.hash)
  })

  // The agent renders from a Map in etcd-event order: the same records must render the same config.
  it('is the same when records arrive in another order', () => {
    for (const order of [
      [dbStopped, api, web1, web2],
      [web2, web1, api, dbStopped],
    ]) {
      const again = renderProxyConfig({domain: 'local', records: order})
      expect(again.config).toBe(base.config)
      expect(again.hash).toBe(base.hash)
    }
  })

  it('changes when a port changes, while the map stays', () => {
    const moved = renderProxyConfig({domain: 'local', records: [{...web1, ports: [{...web1.ports[0], port: 49_999}]}, web2, api, dbStopped]})
    expect(moved.hash).not.toBe(base.hash)
    expect(moved.map).toBe(base.map)
    expect(moved.config).toContain(serverLine(IDS.web1, BRIDGE_IP, 49_999))
  })

  it('changes when a container stops', () => {
    const stopped = renderProxyConfig({domain: 'local', records: [web1, web2, {...api, state: 'stopped'}, dbStopped]})
    expect(stopped.hash).not.toBe(base.hash)
    expect(backendOf(stopped, 'api')).toEqual([])
  })

  it('changes when a name is added, or the domain changes', () => {
    expect(renderProxyConfig({domain: 'local', records: [...records, makeRecord({containerId: 'e'.repeat(64), name: 'cache'})]}).hash).not.toBe(base.hash)
    expect(renderProxyConfig({domain: 'test', records}).hash).not.toBe(base.hash)
  })
})

describe('renderProxyConfig for the local host', () => {
  const local = makeRecord({containerIp: '172.17.0.5', hostId: 'hosta'})
  const remote = makeRecord({
    containerId: IDS.web2,
    containerIp: '172.17.0.9',
    hostId: 'hostb',
    ports: [{address: '10.0.0.2', containerPort: '80/tcp', port: 40_000}],
    replica: true,
  })

  it("reaches this host's containers at their default-bridge address and container port", () => {
    const {config} = renderProxyConfig({domain: 'local', localHostId: 'hosta', records: [local]})
    expect(sections(config).get('backend route0')).toEqual([serverLine(IDS.web1, '172.17.0.5', 80)])
  })

  it("reaches other hosts' containers at their published address", () => {
    const {config} = renderProxyConfig({domain: 'local', localHostId: 'hosta', records: [local, remote]})
    expect(sections(config).get('backend route0')).toEqual([serverLine(IDS.web1, '172.17.0.5', 80), serverLine(IDS.web2, '10.0.0.2', 40_000)])
  })

  it('falls back to the published port off the default bridge, for udp, or without a local host id', () => {
    const published = serverLine(IDS.web1, BRIDGE_IP, 49_153)
    const cases: Array<[ServiceRecord, string | undefined]> = [
      [{...local, containerIp: ''}, 'hosta'],
      [{...local, ports: [{...local.ports[0], containerPort: '80/udp'}]}, 'hosta'],
      [local, undefined],
    ]
    for (const [record, host] of cases) {
      const {config} = renderProxyConfig({domain: 'local', localHostId: host, records: [record]})
      expect(sections(config).get('backend route0')).toEqual([published])
    }
  })
})
