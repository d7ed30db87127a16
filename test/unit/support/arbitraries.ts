import fc from 'fast-check'
import {expect} from 'vitest'
import type {PublishedPort, ServiceRecord} from '../../../src/core/types.js'
import {standings} from '../../../src/agent/records.js'
import type {ProxyConfigInput, RenderedProxyConfig} from '../../../src/proxy/haproxy.js'
import {NOT_FOUND_BACKEND, routeBackend} from '../../../src/proxy/haproxy.js'
import {backendProblem, serviceKey} from '../../../src/registry/schema.js'
import {BRIDGE_IP} from './highway-fixtures.js'

/**
 * fast-check arbitraries for what highway reads from etcd and Docker, shared by the property tests
 * and the e2e check of rendered configs against the real HAProxy and dnsmasq. "Valid" ones produce
 * exactly what checkRecord accepts; "hostile" ones put any JSON value anywhere.
 */

export const dnsLabel = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/)
/** Few distinct names, so records share backends. */
export const serviceName = fc.oneof(fc.constantFrom('web', 'api', 'db', 'a', 'x-1', '0'), dnsLabel)
export const domain = fc.oneof(
  fc.constantFrom('local', 'test', 'dev.example.test'),
  fc.array(dnsLabel, {maxLength: 3, minLength: 1}).map(
    (labels) =>
      labels
        .join('.')
        .slice(0, 200)
        .replace(/[.-]+$/, '') || 'local',
  ),
)
/** Container ids from a small pool of prefixes: equal 12-character server ids happen, as they can in etcd. */
export const containerId = fc.oneof(
  fc.stringMatching(/^[0-9a-f]{64}$/),
  fc.tuple(fc.constantFrom('1a1a1a1a1a1a', '2b2b2b2b2b2b'), fc.stringMatching(/^[0-9a-f]{52}$/)).map(([head, tail]) => head + tail),
)
export const hostId = fc.oneof(fc.constantFrom('hosta', 'hostb', 'hostc'), fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,20}$/))
const displayName = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$/)
/** Any IPv4 address a backend may have on a host with BRIDGE_IP as its bridge. */
export const backendAddress = fc.oneof(fc.constant(BRIDGE_IP), fc.constantFrom('10.0.0.12', '172.17.0.5', '192.168.1.20'), fc.ipV4())
const containerPort = fc
  .tuple(fc.oneof(fc.constantFrom(80, 443, 8080, 9090), fc.integer({max: 65_535, min: 1})), fc.constantFrom('tcp', 'udp', 'sctp'))
  .map(([port, protocol]) => `${port}/${protocol}`)

export const validPort: fc.Arbitrary<PublishedPort> = fc
  .record({address: backendAddress, containerPort, port: fc.oneof(fc.constant(0), fc.integer({max: 65_535, min: 1}))})
  .filter((port) => backendProblem(port.address, port.port, {bridgeIp: BRIDGE_IP}) === null)

export const validRecord: fc.Arbitrary<ServiceRecord> = fc.record({
  containerId,
  containerIp: fc.oneof(
    fc.constant(''),
    fc.ipV4().filter((ip) => backendProblem(ip, null, {bridgeIp: BRIDGE_IP}) === null),
  ),
  containerName: displayName,
  hostId,
  hostName: displayName,
  name: serviceName,
  ports: fc.array(validPort, {maxLength: 4}),
  createdAt: fc
    .tuple(fc.date({max: new Date('2100-01-01'), min: new Date('1970-01-01'), noInvalidDate: true}), fc.integer({max: 999_999, min: 0}))
    .map(([date, nanos]) => `${date.toISOString().slice(0, 19)}.${String(date.getUTCMilliseconds()).padStart(3, '0')}${String(nanos).padStart(6, '0')}Z`),
  replica: fc.boolean(),
  schema: fc.constant(2 as const),
  state: fc.constantFrom('running' as const, 'stopped' as const, 'unhealthy' as const),
  updatedAt: fc.date({max: new Date('2100-01-01'), min: new Date('1970-01-01'), noInvalidDate: true}).map((date) => date.toISOString()),
})

/** Valid records under distinct keys, as the agent holds them (a Map by key). */
export const validRecords = fc.uniqueArray(validRecord, {maxLength: 12, selector: (record) => serviceKey(record)})

export const renderInput: fc.Arbitrary<ProxyConfigInput> = fc.record({
  bridgeIp: fc.constant(BRIDGE_IP),
  domain,
  localHostId: fc.option(fc.constantFrom('hosta', 'hostb'), {nil: undefined}),
  records: validRecords,
})

/** Any JSON value, strings of any code points included. */
export const anyJson = fc.jsonValue({maxDepth: 3})
const RECORD_FIELDS = ['schema', 'name', 'state', 'ports', 'hostId', 'hostName', 'containerId', 'containerName', 'containerIp', 'updatedAt']
const PORT_FIELDS = ['containerPort', 'address', 'port']

/** A valid record with one field, or one field of one port, replaced or removed; or any JSON value at all. */
export const hostileRecord: fc.Arbitrary<unknown> = fc.oneof(
  fc.tuple(validRecord, fc.constantFrom(...RECORD_FIELDS), fc.option(anyJson, {nil: undefined})).map(([record, field, value]) => {
    const copy: Record<string, unknown> = {...record}
    if (value === undefined) delete copy[field]
    else copy[field] = value
    return copy
  }),
  fc.tuple(validRecord, validPort, fc.constantFrom(...PORT_FIELDS), fc.option(anyJson, {nil: undefined})).map(([record, port, field, value]) => {
    const bad: Record<string, unknown> = {...port}
    if (value === undefined) delete bad[field]
    else bad[field] = value
    return {...record, ports: [...record.ports, bad]}
  }),
  anyJson,
  fc.anything(),
)

/** The config's sections by header line, each with its body lines. */
export function sections(config: string): Map<string, string[]> {
  const result = new Map<string, string[]>()
  for (const block of config.trimEnd().split('\n\n')) {
    const [header, ...body] = block.split('\n').filter((line) => !line.startsWith('#'))
    expect(result.has(header), `section "${header}" appears twice`).toBe(false)
    result.set(header, body)
  }
  return result
}

const SERVER =
  /^ {4}server (c[0-9a-f]{12}) (\d+\.\d+\.\d+\.\d+):(\d+) check inter 30s downinter 100ms fastinter 100ms fall 2 rise 1 observe layer4 error-limit 1 on-error fastinter$/

/**
 * What every rendered config must be, whatever valid records it came from: the fixed sections,
 * one backend per name in the map, only printable lines, and servers that are each a running
 * record of that name, at its published or (local host) container address, never a refused one,
 * never twice.
 */
export function assertRenderedShape(input: ProxyConfigInput, rendered: RenderedProxyConfig): void {
  const {config, map} = rendered
  expect(config.endsWith('\n')).toBe(true)
  for (const line of config.split('\n')) {
    expect(line, 'printable ASCII, no trailing space').toMatch(/^(|[^\s].*[^\s]|[^\s]| {4}[^\s].*[^\s])$/)
    expect(line).toMatch(/^[\x20-\x7e]*$/)
  }
  const names = [...new Set(input.records.map((record) => record.name))].sort()
  // A first rendering gives the names the pool's backends in name order.
  const backendOf = new Map(names.map((name, slot) => [name, routeBackend(slot)]))
  expect(map).toBe(names.map((name) => `${name}.${input.domain} ${backendOf.get(name)}\n`).join(''))
  const parts = sections(config)
  const pool = Array.from({length: rendered.state.backends}, (_, slot) => `backend ${routeBackend(slot)}`)
  expect(pool.length).toBeGreaterThanOrEqual(names.length)
  expect([...parts.keys()]).toEqual(['global', 'defaults', 'frontend http', `backend ${NOT_FOUND_BACKEND}`, 'defaults routes', ...pool])
  expect(parts.get('frontend http')).toContain(`    use_backend %[req.hdr(host),field(1,:),lower,map_str(${rendered.mapPath},${NOT_FOUND_BACKEND})]`)
  // Every route backend's rules: highway's 503 pages, for when no server is usable, after the settings every section has.
  expect(parts.get('defaults routes')).toEqual([
    ...parts.get('defaults')!,
    expect.stringMatching(/^ {4}http-request return status 503 .* if \{ nbsrv lt 1 \} /),
    expect.stringMatching(/^ {4}http-request return status 503 .* if \{ nbsrv lt 1 \}$/),
    expect.stringMatching(/^ {4}http-error status 503 .*"$/),
  ])
  const servers: string[] = []
  const standing = standings(input.records)
  for (const name of names) {
    const backend = backendOf.get(name)!
    const body = parts.get(`backend ${backend}`)!
    // Only a name's owner and its replicas are served (agent/records.ts standings); a conflict never is.
    const served = (record: ServiceRecord) => ['owner', 'replica'].includes(standing.get(record)?.role ?? '')
    const running = input.records.filter((record) => record.name === name && record.state === 'running' && (record.ports[0]?.port ?? 0) > 0 && served(record))
    const lines = body.filter((line) => line.startsWith('    server '))
    const ids = new Set<string>()
    for (const line of lines) {
      const [, server, address, port] = SERVER.exec(line) ?? []
      expect(server, line).toBeDefined()
      expect(ids.has(server), `server ${server} twice in ${backend}`).toBe(false)
      ids.add(server)
      servers.push(`${backend}/${server}`)
      expect(backendProblem(address, Number(port), input)).toBeNull()
      const candidates = running
        .filter((record) => `c${record.containerId.slice(0, 12)}` === server)
        .flatMap((record) => [
          `${record.ports[0].address}:${record.ports[0].port}`,
          ...(record.hostId === input.localHostId && record.containerIp ? [`${record.containerIp}:${Number.parseInt(record.ports[0].containerPort, 10)}`] : []),
        ])
      expect(candidates, `${line} is no running record of ${name}`).toContain(`${address}:${port}`)
    }
    // Nothing but servers: highway's 503 pages come from the route backends' defaults section.
    expect(body.filter((line) => !line.startsWith('    server '))).toEqual([])
    if (running.some((record) => backendProblem(record.ports[0].address, record.ports[0].port, input) === null)) {
      expect(lines.length, `${backend} has running records but no server`).toBeGreaterThan(0)
    }
  }
  expect(rendered.servers).toEqual(servers)
}

/** What `up` hands dnsmasq, valid: a domain, a bridge IP and upstream servers (none: the host's). */
export const dnsInput = fc.record({
  bridgeIp: fc.ipV4().filter((ip) => ip !== '0.0.0.0'),
  domain,
  upstreams: fc.array(
    fc.ipV4().filter((ip) => ip !== '0.0.0.0'),
    {maxLength: 3},
  ),
})

/** The structure of dnsmasq's arguments for a valid input: one option per argument, nothing a shell or dnsmasq could read twice. */
export function assertDnsmasqArgs(input: {bridgeIp: string; domain: string; upstreams: string[]}, args: string[]): void {
  expect(args[0]).toBe('dnsmasq')
  for (const arg of args.slice(1)) expect(arg).toMatch(/^--[a-z-]+(=[\x21-\x7e]+)?$/)
  expect(args.filter((arg) => arg.startsWith('--address='))).toEqual([`--address=/${input.domain}/${input.bridgeIp}`])
  expect(args.filter((arg) => arg.startsWith('--local='))).toEqual([`--local=/${input.domain}/`])
  expect(args).toContain('--local-service')
  expect(args.filter((arg) => arg.startsWith('--server='))).toEqual(input.upstreams.map((server) => `--server=${server}`))
  expect(args.includes('--no-resolv')).toBe(input.upstreams.length > 0)
  expect(args.some((arg) => arg.startsWith('--resolv-file='))).toBe(input.upstreams.length === 0)
}
