import {createServer} from 'node:net'
import {afterEach, describe, expect, it} from 'vitest'
import {ReachAnswers, dial} from '../../../src/agent/reach.js'
import type {AgentReport} from '../../../src/core/types.js'
import {assertReachable, probePortRange} from '../../../src/infra/reach.js'
import type {ProbeEvent} from '../../../src/registry/registry.js'
import {PROBE_PORTS, agentKey, probeKey, reachKey, type Probe} from '../../../src/registry/schema.js'
import {FakeRegistry} from '../support/fake-registry.js'

// The registry is the in-memory fake (etcd's RBAC is the e2e suite's); the listener, the dial and
// the nonce on the wire are real sockets on loopback.

const report = (hostId: string, hostName: string): AgentReport => ({
  dockerConnected: true,
  etcdConnected: true,
  hostId,
  hostName,
  lastReconcileAt: null,
  proxyConfigHash: null,
  routes: 0,
  schema: 1,
  startedAt: new Date().toISOString(),
})

const stops: Array<() => void> = []
afterEach(() => {
  for (const stop of stops.splice(0)) stop()
})

/** Another host: its agent's report in the registry, and its answers, driven by the joiner's probe key as a watch would. */
async function otherHost(registry: FakeRegistry, hostId: string, options: {dial?: typeof dial} = {}): Promise<void> {
  await registry.putRaw(agentKey(hostId), JSON.stringify(report(hostId, `host-${hostId}`)))
  const answers = new ReachAnswers({
    dial: options.dial,
    held: {delete: (key) => registry.delete(key), put: (key, value) => registry.putRaw(key, value)},
    hostId,
    log: () => {},
  })
  // Loopback is no address an agent dials from a probe (parseProbe): the test hands the probe over itself.
  const timer = setInterval(async () => {
    const value = await registry.get(probeKey('joiner'))
    await answers.onProbe('joiner', value ? ({...JSON.parse(value), hostId: 'joiner'} as Probe) : null)
  }, 20)
  stops.push(() => clearInterval(timer))
}

describe('probePortRange', () => {
  it('keeps to the ports agents dial that are also the kernel’s local ports, where Docker’s published ports come from', () => {
    expect(probePortRange('32768\t60999\n')).toEqual({max: 60_999, min: 49_152})
    expect(probePortRange('1024 65535')).toEqual({max: 65_535, min: 49_152})
    expect(probePortRange('50000 51000')).toEqual({max: 51_000, min: 50_000})
  })

  it('falls back to every port agents dial where the kernel says nothing, or nothing of use', () => {
    expect(probePortRange(undefined)).toEqual(PROBE_PORTS)
    expect(probePortRange('20000 30000')).toEqual(PROBE_PORTS)
    expect(probePortRange('garbage')).toEqual(PROBE_PORTS)
  })
})

describe('assertReachable (up) and ReachAnswers (agent)', () => {
  it('passes when every other host read this run’s nonce, and leaves no probe behind', async () => {
    const registry = new FakeRegistry()
    await otherHost(registry, 'a')
    await otherHost(registry, 'b')
    const ports: number[] = []
    await otherHost(registry, 'c', {dial: (address, port) => (ports.push(port), dial(address, port))})
    await assertReachable(registry, 'joiner', '127.0.0.1', {waitMs: 5000})
    // The listener's port is one the agents dial at all (parseProbe).
    expect(ports).toHaveLength(1)
    expect(ports[0]).toBeGreaterThanOrEqual(PROBE_PORTS.min)
    expect(await registry.get(probeKey('joiner'))).toBeNull()
    // The answers go with the probe.
    await expect.poll(() => registry.get(reachKey('a', 'joiner'))).toBeNull()
  })

  it('refuses, naming the host and why, when another host cannot connect', async () => {
    const registry = new FakeRegistry()
    await otherHost(registry, 'a')
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as {port: number}).port
    closed.close()
    await otherHost(registry, 'b', {dial: (address) => dial(address, port)})
    await expect(assertReachable(registry, 'joiner', '127.0.0.1', {waitMs: 5000})).rejects.toThrow(
      /^--advertise-ip 127\.0\.0\.1 is not reachable from the other hosts \(host-b: "ECONNREFUSED on 127\.0\.0\.1:\d+"\)$/,
    )
  })

  it('refuses when what answers at the address is not this run’s listener (another machine holds it)', async () => {
    const registry = new FakeRegistry()
    await otherHost(registry, 'a', {dial: async () => ({line: 'SSH-2.0-OpenSSH_9.2'})})
    await expect(assertReachable(registry, 'joiner', '127.0.0.1', {waitMs: 5000})).rejects.toThrow(/not with host joiner's nonce/)
    expect(await registry.get(reachKey('a', 'joiner'))).not.toContain('SSH')
  })

  it('refuses when no host answers within the wait, naming them', async () => {
    const registry = new FakeRegistry()
    await registry.putRaw(agentKey('silent'), JSON.stringify(report('silent', 'quiet-host')))
    await expect(assertReachable(registry, 'joiner', '127.0.0.1', {waitMs: 500})).rejects.toThrow(
      /^no other host reached --advertise-ip 127\.0\.0\.1 \(port \d+\) within 0\.5 s \(quiet-host did not answer\)$/,
    )
  })

  it('says so at once when no other host’s agent runs', async () => {
    const registry = new FakeRegistry()
    await registry.putRaw(agentKey('joiner'), JSON.stringify(report('joiner', 'itself')))
    await expect(assertReachable(registry, 'joiner', '127.0.0.1', {waitMs: 60_000})).rejects.toThrow(/^no other host's agent is running/)
  })

  it('dials for one probing host at most once per interval, and never for a probe replaced meanwhile', async () => {
    const registry = new FakeRegistry()
    const dialled: Array<{port: number; at: number}> = []
    const answers = new ReachAnswers({
      dial: async (_address, port) => {
        dialled.push({at: Date.now(), port})
        return {error: 'ECONNREFUSED'}
      },
      dialEveryMs: 300,
      held: {delete: (key) => registry.delete(key), put: (key, value) => registry.putRaw(key, value)},
      hostId: 'a',
      log: () => {},
    })
    const probe = (id: string, port: number): Probe => ({address: '10.0.0.9', hostId: 'scanner', id, port})
    await answers.onProbe('scanner', probe('0000000000000001', 50_001))
    const second = answers.onProbe('scanner', probe('0000000000000002', 50_002))
    const third = answers.onProbe('scanner', probe('0000000000000003', 50_003))
    await Promise.all([second, third])
    expect(dialled.map((dial) => dial.port)).toEqual([50_001, 50_003])
    // The agent reads the clock just before calling dial, this test inside it: the millisecond may turn in between.
    expect(dialled[1].at - dialled[0].at).toBeGreaterThanOrEqual(299)
    // Another probing host has its own interval.
    await answers.onProbe('other', {...probe('0000000000000004', 50_004), hostId: 'other'})
    expect(dialled.map((dial) => dial.port)).toEqual([50_001, 50_003, 50_004])
  })

  it('reaches the agent through its watch: probes of other hosts only, well-formed, answered once each', async () => {
    const registry = new FakeRegistry()
    const events: ProbeEvent[] = []
    await registry.watchServices(
      '1',
      (event) => {
        if (event.type === 'probe') events.push(event)
      },
      () => {},
    )
    const dialled: string[] = []
    const answers = new ReachAnswers({
      dial: async (address, port) => {
        dialled.push(`${address}:${port}`)
        return {line: '0123456789abcdef0123456789abcdef'}
      },
      held: {delete: (key) => registry.delete(key), put: (key, value) => registry.putRaw(key, value)},
      hostId: 'a',
      log: () => {},
    })
    await registry.putRaw(probeKey('joiner'), JSON.stringify({address: '10.0.0.9', id: '00112233445566ff', port: 54242}))
    await registry.putRaw(probeKey('bad'), JSON.stringify({address: '127.0.0.1', id: '00112233445566ff', port: 54242}))
    // A well-known port (ssh) is no listener of a joining host's.
    await registry.putRaw(probeKey('scanner'), JSON.stringify({address: '10.0.0.7', id: '00112233445566ff', port: 22}))
    await registry.putRaw(probeKey('a'), JSON.stringify({address: '10.0.0.8', id: '00112233445566ff', port: 54242}))
    await expect.poll(() => events.length).toBe(4)
    for (const event of events) await answers.onProbe(event.hostId, event.probe)
    await answers.onProbe(events[0].hostId, events[0].probe)
    expect(events.map((event) => event.probe?.address ?? null)).toEqual(['10.0.0.9', null, null, '10.0.0.8'])
    expect(dialled).toEqual(['10.0.0.9:54242'])
    expect(JSON.parse((await registry.get(reachKey('a', 'joiner')))!)).toEqual({nonce: '0123456789abcdef0123456789abcdef', probe: '00112233445566ff'})
    await registry.delete(probeKey('joiner'))
    await expect.poll(() => events.length).toBe(5)
    await answers.onProbe(events[4].hostId, events[4].probe)
    expect(await registry.get(reachKey('a', 'joiner'))).toBeNull()
  })
})
