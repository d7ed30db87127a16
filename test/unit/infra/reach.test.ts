import {createServer} from 'node:net'
import {afterEach, describe, expect, it} from 'vitest'
import {ReachAnswers, dial} from '../../../src/agent/reach.js'
import type {AgentReport} from '../../../src/core/types.js'
import {assertReachable} from '../../../src/infra/reach.js'
import type {ProbeEvent} from '../../../src/registry/registry.js'
import {agentKey, probeKey, reachKey, type Probe} from '../../../src/registry/schema.js'
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

describe('assertReachable (up) and ReachAnswers (agent)', () => {
  it('passes when every other host read this run’s nonce, and leaves no probe behind', async () => {
    const registry = new FakeRegistry()
    await otherHost(registry, 'a')
    await otherHost(registry, 'b')
    await assertReachable(registry, 'joiner', '127.0.0.1', {waitMs: 5000})
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
    await registry.putRaw(probeKey('joiner'), JSON.stringify({address: '10.0.0.9', id: '00112233445566ff', port: 4242}))
    await registry.putRaw(probeKey('bad'), JSON.stringify({address: '127.0.0.1', id: '00112233445566ff', port: 4242}))
    await registry.putRaw(probeKey('a'), JSON.stringify({address: '10.0.0.8', id: '00112233445566ff', port: 4242}))
    await expect.poll(() => events.length).toBe(3)
    for (const event of events) await answers.onProbe(event.hostId, event.probe)
    await answers.onProbe(events[0].hostId, events[0].probe)
    expect(events.map((event) => event.probe?.address ?? null)).toEqual(['10.0.0.9', null, '10.0.0.8'])
    expect(dialled).toEqual(['10.0.0.9:4242'])
    expect(JSON.parse((await registry.get(reachKey('a', 'joiner')))!)).toEqual({nonce: '0123456789abcdef0123456789abcdef', probe: '00112233445566ff'})
    await registry.delete(probeKey('joiner'))
    await expect.poll(() => events.length).toBe(4)
    await answers.onProbe(events[3].hostId, events[3].probe)
    expect(await registry.get(reachKey('a', 'joiner'))).toBeNull()
  })
})
