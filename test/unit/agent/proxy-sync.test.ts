import {existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {basename, join} from 'node:path'
import {afterEach, describe, expect, it, vi} from 'vitest'
import {ProxySync} from '../../../src/agent/proxy-sync.js'
import type {ServiceRecord} from '../../../src/core/types.js'
import {SPARE_BACKENDS, renderProxyConfig} from '../../../src/proxy/haproxy.js'

function record(name: string, port: number): ServiceRecord {
  return {
    containerId: `${name.padEnd(12, '0').replaceAll(/[^a-f0-9]/g, 'a')}${'b'.repeat(52)}`,
    containerIp: '172.17.0.9',
    containerName: name,
    createdAt: '2026-11-27T09:14:03.118402711Z',
    hostId: 'host1',
    hostName: 'host1',
    name,
    ports: [{address: '172.17.0.1', containerPort: '9090/tcp', port}],
    replica: false,
    schema: 2,
    state: 'running',
    updatedAt: new Date().toISOString(),
  }
}

interface Deferred {
  promise: Promise<void>
  resolve: () => void
  reject: (error: Error) => void
}

function deferred(): Deferred {
  let resolve!: () => void
  let reject!: (error: Error) => void
  const promise = new Promise<void>((yes, no) => {
    resolve = yes
    reject = no
  })
  return {promise, reject, resolve}
}

/**
 * One injected step (validate, reload, runtime) under the test's control: while `held`, each call
 * waits at the gate until the test releases or fails it, so "a change arrives mid-render" is a fact
 * of the test's own ordering, not of a sleep being long enough.
 */
class Gate {
  held = false
  private readonly waiting: Deferred[] = []
  private arrival = deferred()

  async pass(): Promise<void> {
    if (!this.held) return
    const call = deferred()
    this.waiting.push(call)
    this.arrival.resolve()
    await call.promise
  }

  /** Resolves once a call is waiting at the gate. */
  async arrived(): Promise<void> {
    while (this.waiting.length === 0) {
      this.arrival = deferred()
      await this.arrival.promise
    }
  }

  release(error?: Error): void {
    const call = this.waiting.shift()
    if (!call) throw new Error('no call is waiting at this gate')
    if (error) call.reject(error)
    else call.resolve()
  }
}

function harness(records: ServiceRecord[], options: {retryDelayMs?: number} = {}) {
  const runDir = mkdtempSync(join(tmpdir(), 'highway-sync-'))
  /** The candidate config as each validate call saw it. */
  const validated: string[] = []
  const reloads: string[] = []
  /** Runtime API calls, in order with reloads: "runtime:<commands>" or "reload". */
  const calls: string[] = []
  const logs: string[] = []
  const gates = {reload: new Gate(), runtime: new Gate(), validate: new Gate()}
  const sync = new ProxySync(() => records, {
    domain: 'local',
    log: (message) => logs.push(message),
    reload: async (socket) => {
      await gates.reload.pass()
      reloads.push(socket)
      calls.push('reload')
    },
    runtime: async (_socket, commands) => {
      await gates.runtime.pass()
      calls.push(`runtime:${commands.join('; ')}`)
    },
    retryDelayMs: options.retryDelayMs ?? 1000,
    runDir,
    validate: async (path) => {
      validated.push(readFileSync(path, 'utf8'))
      await gates.validate.pass()
    },
  })
  /** What the config on disk must be for `state`: the rendering, with the map where the sync writes it. */
  const expected = (state: ServiceRecord[]) => {
    const rendered = renderProxyConfig({domain: 'local', records: state})
    return rendered.config.replaceAll(rendered.mapPath, join(runDir, rendered.mapPath.split('/').at(-1)!))
  }
  const onDisk = () => readFileSync(join(runDir, 'haproxy.cfg'), 'utf8')
  return {calls, expected, gates, logs, onDisk, reloads, runDir, sync, validated}
}

afterEach(() => {
  vi.useRealTimers()
})

describe('ProxySync', () => {
  it('writes the config and its map, validates the candidate, swaps it in, then reloads through the master socket', async () => {
    const records = [record('api', 32768)]
    const {expected, onDisk, reloads, runDir, sync, validated} = harness(records)
    await sync.schedule()
    expect(validated).toEqual([expected(records)])
    expect(onDisk()).toBe(expected(records))
    expect(existsSync(join(runDir, 'haproxy.cfg.new'))).toBe(false)
    expect(reloads).toEqual([join(runDir, 'master.sock')])
    const maps = readdirSync(runDir).filter((file) => file.startsWith('routes-'))
    expect(maps).toHaveLength(1)
    expect(readFileSync(join(runDir, maps[0]), 'utf8')).toBe('api.local svc_api\n')
    expect(onDisk()).toContain(join(runDir, maps[0]))
    expect(sync.configHash).toBe(renderProxyConfig({domain: 'local', records}).hash)
  })

  it('skips validation and reload when the rendered config has not changed', async () => {
    const {reloads, sync, validated} = harness([record('api', 32768)])
    await sync.schedule()
    await sync.schedule()
    await sync.schedule()
    expect(sync.renders).toBe(3)
    expect(validated).toHaveLength(1)
    expect(reloads).toHaveLength(1)
  })

  it('coalesces 50 changes made while a render is blocked into exactly one more render, of the last state', async () => {
    const records = [record('api', 32768)]
    const {calls, expected, gates, onDisk, runDir, sync, validated} = harness(records)
    gates.validate.held = true
    const first = sync.schedule()
    await gates.validate.arrived()
    const before = expected(records)
    for (let index = 0; index < 50; index++) {
      records.push(record(`svc${index}`, 33_000 + index))
      // Every request joins the render in flight: the same promise, no render of its own.
      expect(sync.schedule()).toBe(first)
    }
    expect(sync.renders).toBe(1)

    gates.validate.release()
    await gates.validate.arrived()
    // The first render finished with the state it started from; the second started with all 51.
    expect(sync.reloads).toBe(1)
    expect(sync.renders).toBe(2)
    expect(validated).toEqual([before, expected(records)])
    gates.validate.release()
    await first

    expect(sync.renders).toBe(2)
    expect(sync.reloads).toBe(2)
    expect(onDisk()).toBe(expected(records))
    expect(sync.configHash).toBe(renderProxyConfig({domain: 'local', records}).hash)
    // Between the two reloads, as many new names as there are spare backends went live at runtime
    // against the map the first reload loaded, in the rendering's order.
    const liveMap = join(runDir, basename(renderProxyConfig({domain: 'local', records: records.slice(0, 1)}).mapPath))
    const newRoutes = renderProxyConfig({domain: 'local', records}).routes.filter((route) => route.name !== 'api')
    const spareCalls = SPARE_BACKENDS.map((spare, index) => {
      const {host, servers} = newRoutes[index]
      const server = `${spare}/c${servers[0].id}`
      return `runtime:@1 add server ${server} ${servers[0].address}:${servers[0].port}; @1 enable server ${server}; @1 add map ${liveMap} ${host} ${spare}`
    })
    expect(calls).toEqual(['reload', ...spareCalls, 'reload'])

    gates.validate.held = false
    await sync.schedule()
    expect(sync.renders).toBe(3)
    expect(sync.reloads).toBe(2)
  })

  it('renders again for a change that arrives while the reload is in flight', async () => {
    const records = [record('api', 32768)]
    const {expected, gates, onDisk, sync, validated} = harness(records)
    gates.reload.held = true
    const first = sync.schedule()
    await gates.reload.arrived()
    records.push(record('web', 32769))
    expect(sync.schedule()).toBe(first)
    gates.reload.release()
    await gates.reload.arrived()
    expect(validated).toEqual([expected(records.slice(0, 1)), expected(records)])
    gates.reload.release()
    await first
    expect(sync.reloads).toBe(2)
    expect(onDisk()).toBe(expected(records))
  })

  it('renders a change requested in whatever microtask the previous render ends in', async () => {
    // A request that lands after the last render checked for more work, but before the run is
    // marked over, must start a render of its own, not join the run that is ending.
    for (let hops = 0; hops < 6; hops++) {
      const records = [record('api', 32768)]
      const {expected, onDisk, sync} = harness(records)
      await sync.schedule()
      const ending = sync.schedule() // nothing changed: this run ends without awaiting any I/O
      let chain = Promise.resolve()
      for (let hop = 0; hop < hops; hop++) chain = chain.then(() => {})
      let late: Promise<void> | undefined
      await chain.then(() => {
        records.push(record('web', 32769))
        late = sync.schedule()
      })
      await ending
      await late
      expect(onDisk(), `change made ${hops} microtask hop(s) after the render began`).toBe(expected(records))
      expect(sync.reloads).toBe(2)
    }
  })

  it('keeps the running config when validation fails, and retries after retryDelayMs', async () => {
    vi.useFakeTimers({toFake: ['setTimeout', 'clearTimeout']})
    const records = [record('api', 32768)]
    const {expected, gates, logs, onDisk, reloads, sync, validated} = harness(records, {retryDelayMs: 1000})
    await sync.schedule()
    const good = expected(records)
    const goodHash = sync.configHash

    gates.validate.held = true
    records.push(record('web', 32769))
    const failing = sync.schedule()
    await gates.validate.arrived()
    gates.validate.release(new Error('rejected'))
    await failing
    expect(logs).toEqual(['proxy update failed, retrying in 1000 ms: rejected'])
    expect(onDisk()).toBe(good)
    expect(sync.configHash).toBe(goodHash)
    expect(reloads).toHaveLength(1)

    // The retry's render starts synchronously in its timer callback: `renders` tells when it fired.
    const renders = sync.renders
    vi.advanceTimersByTime(999)
    expect(sync.renders).toBe(renders)
    vi.advanceTimersByTime(1)
    expect(sync.renders).toBe(renders + 1)
    await gates.validate.arrived()
    gates.validate.release()
    await sync.schedule()
    expect(validated).toEqual([good, expected(records), expected(records)])
    expect(onDisk()).toBe(expected(records))
    expect(reloads).toHaveLength(2)
  })

  it('retries a failed reload, and stop() cancels a pending retry', async () => {
    vi.useFakeTimers({toFake: ['setTimeout', 'clearTimeout']})
    const records = [record('api', 32768)]
    const {gates, logs, reloads, sync} = harness(records, {retryDelayMs: 1000})
    gates.reload.held = true
    const failing = sync.schedule()
    await gates.reload.arrived()
    gates.reload.release(new Error('master refused'))
    await failing
    expect(logs).toEqual(['proxy update failed, retrying in 1000 ms: master refused'])
    expect(sync.configHash).toBeNull()
    sync.stop()
    vi.advanceTimersByTime(10_000)
    expect(sync.renders).toBe(1)
    expect(reloads).toEqual([])
  })

  it('takes a departed server out through the runtime API before the reload', async () => {
    const records = [record('api', 32768), record('web', 32769)]
    const {calls, sync} = harness(records)
    await sync.schedule()
    expect(calls).toEqual(['reload'])
    records[1] = {...records[1], ports: [{...records[1].ports[0], port: 0}], state: 'stopped'}
    await sync.schedule()
    const webServer = `svc_web/c${records[1].containerId.slice(0, 12)}`
    expect(calls).toEqual(['reload', `runtime:@1 set server ${webServer} state maint`, 'reload'])
  })

  it('still reloads when the runtime API refuses, and says so', async () => {
    const records = [record('api', 32768), record('web', 32769)]
    const {calls, expected, gates, logs, onDisk, sync} = harness(records)
    await sync.schedule()
    records[1] = {...records[1], ports: [{...records[1].ports[0], port: 0}], state: 'stopped'}
    gates.runtime.held = true
    const change = sync.schedule()
    await gates.runtime.arrived()
    gates.runtime.release(new Error('No such server'))
    await change
    expect(logs).toEqual(['taking 1 server(s) out at runtime failed (the reload follows): No such server'])
    expect(calls).toEqual(['reload', 'reload'])
    expect(onDisk()).toBe(expected(records))
  })

  it('switches a brand-new name on in a spare backend before the reload, against the live map', async () => {
    const records = [record('api', 32768)]
    const {calls, runDir, sync} = harness(records)
    await sync.schedule()
    const liveMap = readdirSync(runDir).find((file) => file.startsWith('routes-'))!
    records.push(record('web', 32769))
    await sync.schedule()
    const server = `highway_spare0/c${records[1].containerId.slice(0, 12)}`
    expect(calls).toEqual([
      'reload',
      `runtime:@1 add server ${server} 172.17.0.1:32769; @1 enable server ${server}; @1 add map ${join(runDir, liveMap)} web.local highway_spare0`,
      'reload',
    ])
    // A name the live config already has (here, stopped then started again) goes through the reload only.
    records[1] = {...records[1], ports: [{...records[1].ports[0], port: 0}], state: 'stopped'}
    await sync.schedule()
    records[1] = {...records[1], ports: [{...records[1].ports[0], port: 32770}], state: 'running'}
    await sync.schedule()
    expect(calls.slice(3)).toEqual([`runtime:@1 set server svc_web/c${records[1].containerId.slice(0, 12)} state maint`, 'reload', 'reload'])
  })

  it('writes the map beside itself and renames it over: a half-written one from a killed agent is never taken for it', async () => {
    const records = [record('api', 32768)]
    const map = basename(renderProxyConfig({domain: 'local', records}).mapPath)
    const {runDir, sync} = harness(records)
    writeFileSync(join(runDir, `${map}.new`), 'api.loc')
    await sync.schedule()
    expect(readdirSync(runDir).sort()).toEqual(['haproxy.cfg', map])
    expect(readFileSync(join(runDir, map), 'utf8')).toBe('api.local svc_api\n')
  })

  it('removes route maps the new config no longer uses, keeping the one it names', async () => {
    const records = [record('api', 32768)]
    const {onDisk, runDir, sync} = harness(records)
    await sync.schedule()
    records.push(record('web', 32769))
    await sync.schedule()
    const maps = readdirSync(runDir).filter((file) => file.startsWith('routes-'))
    expect(maps).toHaveLength(1)
    expect(onDisk()).toContain(join(runDir, maps[0]))
    expect(readFileSync(join(runDir, maps[0]), 'utf8')).toBe('api.local svc_api\nweb.local svc_web\n')
  })
})

describe('ProxySync when rendering itself fails', () => {
  it('never rejects: it logs, retries, and renders once the records can be read again', async () => {
    let readable = false
    const logs: string[] = []
    const reloads: string[] = []
    const sync = new ProxySync(
      () => {
        if (!readable) throw new Error('records unreadable')
        return [record('api', 32768)]
      },
      {
        domain: 'local',
        log: (message) => logs.push(message),
        reload: async (socket) => void reloads.push(socket),
        runtime: async () => {},
        retryDelayMs: 5,
        runDir: mkdtempSync(join(tmpdir(), 'highway-sync-')),
        validate: async () => {},
      },
    )
    await expect(sync.schedule()).resolves.toBeUndefined()
    expect(logs).toEqual(['proxy update failed, retrying in 5 ms: records unreadable'])
    readable = true
    for (let i = 0; i < 200 && reloads.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5))
    expect(reloads).toHaveLength(1)
    sync.stop()
  })
})
