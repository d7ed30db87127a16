import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {recordFromContainer, type HostInfo} from '../../../src/agent/records.js'
import type {ContainerDetails} from '../../../src/docker/types.js'
import {recordProblem} from '../../../src/registry/schema.js'
import {dnsLabel, hostId} from '../support/arbitraries.js'
import {BRIDGE_IP, loadInspect} from '../support/highway-fixtures.js'

/**
 * recordFromContainer reads what a container's creator chose: its labels, name and port bindings
 * (any `docker run --label` or compose file). Whatever they are, it must not throw, and what it
 * writes for a container Docker could really have must pass the registry's own check, or every
 * reader would skip it.
 */
type Binding = {HostIp: string; HostPort: string}

/** Keys that are properties of every plain object: a lookup by such a key must not find them. */
const trickyKey = fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', '80/tcp', '80', '')
const anyText = fc.string({unit: 'binary'})
const anyKey = fc.oneof(trickyKey, anyText)
const anyBindings = fc.option(
  fc.array(
    fc.record({
      HostIp: fc.oneof(anyText, fc.constantFrom(BRIDGE_IP, '0.0.0.0', '', '::')),
      HostPort: fc.oneof(anyText, fc.constantFrom('', '0', '8080', '99999')),
    }),
    {maxLength: 3},
  ),
  {nil: null},
)

function document(parts: {
  id: string
  name: string
  labels: Record<string, string>
  portBindings: Record<string, Binding[] | null>
  ports: Record<string, Binding[] | null>
  ip: string | null
  running: boolean
  paused: boolean
  restarting: boolean
  health: string | null
}): ContainerDetails {
  const info = loadInspect('web-running-bridge.json')
  info.Id = parts.id
  info.Name = parts.name
  info.Config.Labels = parts.labels
  info.HostConfig.PortBindings = parts.portBindings as typeof info.HostConfig.PortBindings
  info.NetworkSettings.Ports = parts.ports as typeof info.NetworkSettings.Ports
  if (parts.ip === null) info.NetworkSettings.Networks = {}
  else info.NetworkSettings.Networks.bridge.IPAddress = parts.ip
  info.State.Running = parts.running
  info.State.Paused = parts.paused
  info.State.Restarting = parts.restarting
  info.State.Health = parts.health === null ? undefined : {FailingStreak: 0, Log: [], Status: parts.health as 'healthy'}
  return info as unknown as ContainerDetails
}

const host: fc.Arbitrary<HostInfo> = fc.record({bridgeIp: fc.constant(BRIDGE_IP), id: hostId, name: fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/)})

describe('recordFromContainer, property-based', () => {
  it('never throws, whatever the labels, name, bindings, address and state', () => {
    const hostile = fc.record({
      health: fc.option(anyText, {nil: null}),
      id: anyText,
      ip: fc.option(anyText, {nil: null}),
      labels: fc.dictionary(fc.oneof(fc.constantFrom('io.highway.service', 'io.highway.ports'), anyKey), anyText),
      name: anyText,
      paused: fc.boolean(),
      portBindings: fc.dictionary(anyKey, anyBindings),
      ports: fc.dictionary(anyKey, anyBindings),
      restarting: fc.boolean(),
      running: fc.boolean(),
    })
    fc.assert(
      fc.property(hostile, host, (parts, info) => {
        recordFromContainer(document(parts), info, {})
      }),
      {numRuns: 1000},
    )
  })

  it('writes a record the registry accepts for any container Docker could have', () => {
    const port = fc.integer({max: 65_535, min: 1})
    const protocol = fc.constantFrom('tcp', 'udp', 'sctp')
    const hostPort = fc.integer({max: 65_535, min: 1024}).map(String)
    const plausible = fc
      .record({
        declared: fc.boolean(),
        entries: fc.uniqueArray(
          fc.tuple(port, protocol).map(([number, proto]) => `${number}/${proto}`),
          {maxLength: 4},
        ),
        health: fc.constantFrom(null, 'starting', 'healthy', 'unhealthy'),
        hostIp: fc.constantFrom(BRIDGE_IP, '0.0.0.0', '', '10.0.0.12'),
        hostPorts: fc.array(hostPort, {maxLength: 4, minLength: 4}),
        id: fc.stringMatching(/^[0-9a-f]{64}$/),
        ip: fc.option(fc.constantFrom('', '172.17.0.2', '172.17.0.5', '172.17.255.254'), {nil: null}),
        name: fc.stringMatching(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,30}$/),
        paused: fc.boolean(),
        restarting: fc.boolean(),
        running: fc.boolean(),
        service: dnsLabel,
      })
      .map((parts) => {
        const bindings = (index: number): Binding[] | null => (parts.running ? [{HostIp: parts.hostIp, HostPort: parts.hostPorts[index]}] : null)
        return document({
          ...parts,
          labels: {'io.highway.service': parts.service, ...(parts.declared ? {'io.highway.ports': parts.entries.join(',')} : {})},
          name: `/${parts.name}`,
          portBindings: Object.fromEntries(parts.entries.map((entry) => [entry, [{HostIp: parts.hostIp, HostPort: ''}]])),
          ports: Object.fromEntries(parts.entries.map((entry, index) => [entry, bindings(index)])),
        })
      })
    fc.assert(
      fc.property(plausible, host, (info, hostInfo) => {
        const record = recordFromContainer(info, hostInfo, {})
        expect(record).not.toBeNull()
        expect(recordProblem(record, {bridgeIp: BRIDGE_IP})).toBeNull()
      }),
      {numRuns: 1000},
    )
  })
})
