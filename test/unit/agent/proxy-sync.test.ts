import {mkdtempSync, readFileSync, readdirSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, describe, expect, it, vi} from 'vitest'
import {ProxySync} from '../../../src/agent/proxy-sync.js'
import type {ServiceRecord} from '../../../src/core/types.js'
import {renderProxyConfig, type ProxyState} from '../../../src/proxy/haproxy.js'

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

/** A stopped container's record: no published port. */
const stopped = (running: ServiceRecord): ServiceRecord => ({...running, ports: [{...running.ports[0], port: 0}], state: 'stopped'})
const server = (name: string) => `c${record(name, 1).containerId.slice(0, 12)}`
const OPTIONS = 'check inter 30s downinter 100ms fastinter 100ms fall 2 rise 1 observe layer4 error-limit 1 on-error fastinter'

function harness(records: ServiceRecord[], options: {retryDelayMs?: number; leavingRetryMs?: number} = {}) {
  const runDir = mkdtempSync(join(tmpdir(), 'highway-sync-'))
  /** The candidate config as each validate call saw it. */
  const validated: string[] = []
  /** Reloads and runtime calls, in order: "reload", or "runtime:<commands joined by '; '>". */
  const calls: string[] = []
  const logs: string[] = []
  const gates = {reload: new Gate(), runtime: new Gate(), validate: new Gate()}
  /** What HAProxy answers a runtime call with, by its first command (default: nothing, i.e. done). */
  const answers: Array<(commands: string[]) => string | undefined> = []
  const sync = new ProxySync(() => records, {
    domain: 'local',
    leavingRetryMs: options.leavingRetryMs ?? 5000,
    log: (message) => logs.push(message),
    reload: async () => {
      await gates.reload.pass()
      calls.push('reload')
    },
    runtime: async (_socket, commands) => {
      await gates.runtime.pass()
      calls.push(`runtime:${commands.join('; ')}`)
      for (const answer of answers) {
        const text = answer(commands)
        if (text !== undefined) return text
      }
      return commands[0]?.startsWith('del server') ? 'Server deleted.\n' : ''
    },
    retryDelayMs: options.retryDelayMs ?? 1000,
    runDir,
    validate: async (path) => {
      validated.push(readFileSync(path, 'utf8'))
      await gates.validate.pass()
    },
  })
  /** The rendering the proxy must serve for `state`, each name on the backend it was given before (like the sync itself). */
  let previous: ProxyState | undefined
  const expected = (state: ServiceRecord[]) => {
    const rendered = renderProxyConfig({domain: 'local', records: state}, previous)
    previous = rendered.state
    return rendered
  }
  const onDisk = (file = 'haproxy.cfg') => readFileSync(join(runDir, file), 'utf8')
  return {answers, calls, expected, gates, logs, onDisk, runDir, sync, validated}
}

afterEach(() => {
  vi.useRealTimers()
})

describe('ProxySync: the first update reloads', () => {
  it('writes both maps and the config, validates the candidate, swaps it in, then reloads through the master socket', async () => {
    const records = [record('api', 32768)]
    const {calls, expected, onDisk, runDir, sync, validated} = harness(records)
    await sync.schedule()
    const rendered = expected(records)
    expect(validated).toEqual([rendered.config])
    expect(onDisk()).toBe(rendered.config)
    expect(onDisk('routes.map')).toBe('api.local route0\n')
    expect(onDisk('states.map')).toBe('')
    expect(readdirSync(runDir).sort()).toEqual(['haproxy.cfg', 'routes.map', 'states.map'])
    expect(calls).toEqual(['reload'])
    expect(sync.configHash).toBe(rendered.hash)
  })

  it('does nothing more while the records render the same', async () => {
    const {calls, sync, validated} = harness([record('api', 32768)])
    await sync.schedule()
    await sync.schedule()
    await sync.schedule()
    expect(sync.renders).toBe(3)
    expect(validated).toHaveLength(1)
    expect(calls).toEqual(['reload'])
  })

  it('replaces half-written files a killed agent left, and removes route maps of versions before the runtime API', async () => {
    const records = [record('api', 32768)]
    const {onDisk, runDir, sync} = harness(records)
    writeFileSync(join(runDir, 'routes.map.new'), 'api.loc')
    writeFileSync(join(runDir, 'routes-0123456789ab.map'), 'api.local svc_api\n')
    await sync.schedule()
    expect(readdirSync(runDir).sort()).toEqual(['haproxy.cfg', 'routes.map', 'states.map'])
    expect(onDisk('routes.map')).toBe('api.local route0\n')
  })
})

describe('ProxySync: route changes go to the running worker, without a reload', () => {
  it('adds a new name: its servers first, then its map entry; then rewrites the files for a restart', async () => {
    const records = [record('api', 32768)]
    const {calls, expected, onDisk, sync, validated} = harness(records)
    await sync.schedule()
    expected(records)
    records.push(record('web', 32769))
    await sync.schedule()
    expect(calls).toEqual([
      'reload',
      `runtime:add server route1/${server('web')} 172.17.0.1:32769 ${OPTIONS}; enable health route1/${server('web')}; enable server route1/${server('web')}; ` +
        'add map /run/highway/routes.map web.local route1',
    ])
    const rendered = expected(records)
    expect(validated.at(-1)).toBe(rendered.config)
    expect(onDisk()).toBe(rendered.config)
    expect(onDisk('routes.map')).toBe('api.local route0\nweb.local route1\n')
    expect(sync.configHash).toBe(rendered.hash)
    expect([sync.reloads, sync.runtimeUpdates]).toEqual([1, 1])
  })

  it('takes a stopped container out (maintenance, then deleted), and puts it back where it runs again, on a new port', async () => {
    const records = [record('api', 32768), record('web', 32769)]
    const {calls, sync} = harness(records)
    await sync.schedule()
    records[1] = stopped(records[1])
    await sync.schedule()
    records[1] = {...records[1], ports: [{...records[1].ports[0], port: 32770}], state: 'running'}
    await sync.schedule()
    const web = `route1/${server('web')}`
    expect(calls.slice(1)).toEqual([
      `runtime:set server ${web} state maint`,
      `runtime:del server ${web}`,
      `runtime:add server ${web} 172.17.0.1:32770 ${OPTIONS}; enable health ${web}; enable server ${web}`,
    ])
    expect(sync.reloads).toBe(1)
  })

  it('moves a server whose port changed, and switches a replacement on before the server it replaces goes out', async () => {
    const old = record('api', 32768)
    const next = {...record('api', 32769), containerId: `${'9'.repeat(12)}${'b'.repeat(52)}`, replica: true}
    const records = [old]
    const {calls, sync} = harness(records)
    await sync.schedule()
    records[0] = {...old, ports: [{...old.ports[0], port: 40000}]}
    await sync.schedule()
    records.splice(0, 1, next)
    await sync.schedule()
    expect(calls.slice(1)).toEqual([
      `runtime:set server route0/${server('api')} addr 172.17.0.1 port 40000`,
      `runtime:add server route0/c999999999999 172.17.0.1:32769 ${OPTIONS}; enable health route0/c999999999999; enable server route0/c999999999999; set server route0/${server('api')} state maint`,
      `runtime:del server route0/${server('api')}`,
    ])
  })

  it('removes a name from the map before its servers go out, and gives its backend to the next new name', async () => {
    const records = [record('api', 32768), record('web', 32769)]
    const {calls, onDisk, sync} = harness(records)
    await sync.schedule()
    records.splice(1, 1, record('db', 32770))
    await sync.schedule()
    expect(calls.slice(1)).toEqual([
      `runtime:add server route1/${server('db')} 172.17.0.1:32770 ${OPTIONS}; enable health route1/${server('db')}; enable server route1/${server('db')}; ` +
        `add map /run/highway/routes.map db.local route1; del map /run/highway/routes.map web.local; set server route1/${server('web')} state maint`,
      `runtime:del server route1/${server('web')}`,
    ])
    expect(onDisk('routes.map')).toBe('api.local route0\ndb.local route1\n')
  })

  it('marks a name whose only containers fail their health check, for the 503 page that says so, and unmarks it', async () => {
    const records = [record('api', 32768)]
    const {calls, onDisk, sync} = harness(records)
    await sync.schedule()
    records[0] = {...records[0], state: 'unhealthy'}
    await sync.schedule()
    expect(onDisk('states.map')).toBe('api.local unhealthy\n')
    records[0] = {...records[0], state: 'running'}
    await sync.schedule()
    expect(calls.slice(1).filter((call) => call.includes('states.map'))).toEqual([
      `runtime:add map /run/highway/states.map api.local unhealthy; set server route0/${server('api')} state maint`,
      `runtime:add server route0/${server('api')} 172.17.0.1:32768 ${OPTIONS}; enable health route0/${server('api')}; enable server route0/${server('api')}; del map /run/highway/states.map api.local`,
    ])
    expect(onDisk('states.map')).toBe('')
  })

  it('keeps a server HAProxy will not delete yet (connections attached) in maintenance, and deletes it on a timer', async () => {
    vi.useFakeTimers({toFake: ['setTimeout', 'clearTimeout']})
    const records = [record('api', 32768), record('web', 32769)]
    const {answers, calls, sync} = harness(records, {leavingRetryMs: 5000})
    let busy = true
    answers.push((commands) => (busy && commands[0].startsWith('del server') ? 'Server still has connections attached to it, cannot remove it.\n' : undefined))
    await sync.schedule()
    records[1] = stopped(records[1])
    await sync.schedule()
    expect(sync.leaving).toBe(1)
    const web = `route1/${server('web')}`
    expect(calls.at(-1)).toBe(`runtime:del server ${web}`)
    busy = false
    vi.advanceTimersByTime(4999)
    expect(calls.filter((call) => call === `runtime:del server ${web}`)).toHaveLength(1)
    vi.advanceTimersByTime(1)
    await vi.waitFor(() => expect(sync.leaving).toBe(0))
    expect(calls.filter((call) => call === `runtime:del server ${web}`)).toHaveLength(2)
    expect(sync.reloads).toBe(1)
  })

  it('reloads instead when the worker refuses a change, and says why', async () => {
    const records = [record('api', 32768)]
    const {answers, calls, expected, logs, onDisk, sync} = harness(records)
    await sync.schedule()
    expected(records)
    answers.push(() => "'add server' : backend 'route1' not found.\n")
    records.push(record('web', 32769))
    await sync.schedule()
    expect(logs).toEqual(["runtime update refused ('add server' : backend 'route1' not found.); reloading instead"])
    expect(calls.at(-1)).toBe('reload')
    expect(onDisk()).toBe(expected(records).config)
  })

  it('reloads, doubling the pool of route backends, only when the names outgrow it', async () => {
    const records = [record('api', 32768)]
    const {calls, sync} = harness(records)
    await sync.schedule()
    for (let index = 1; index < 32; index++) records.push(record(`s${index}`, 33_000 + index))
    await sync.schedule()
    expect(calls).toHaveLength(2)
    expect(calls[1]).toMatch(/^runtime:/)
    records.push(record('s32', 34_000))
    await sync.schedule()
    expect(calls.at(-1)).toBe('reload')
    expect(sync.reloads).toBe(2)
  })
})

describe('ProxySync: bursts and failures', () => {
  it('coalesces 20 changes made while an update is blocked into exactly one more update, of the last state', async () => {
    const records = [record('api', 32768)]
    const {calls, expected, gates, onDisk, sync} = harness(records)
    await sync.schedule()
    expected(records)
    records.push(record('web', 32769))
    gates.runtime.held = true
    const first = sync.schedule()
    await gates.runtime.arrived()
    for (let index = 0; index < 20; index++) {
      records.push(record(`svc${index}`, 33_000 + index))
      // Every request joins the update in flight: the same promise, no update of its own.
      expect(sync.schedule()).toBe(first)
    }
    gates.runtime.release()
    await gates.runtime.arrived()
    expect(sync.renders).toBe(3)
    gates.runtime.release()
    await first
    expect(calls).toHaveLength(3)
    expect(calls[2].match(/add map \/run\/highway\/routes\.map/g)).toHaveLength(20)
    expected(records.slice(0, 2))
    expect(onDisk()).toBe(expected(records).config)
    expect(sync.reloads).toBe(1)
  })

  it('updates for a change requested in whatever microtask the previous update ends in', async () => {
    // A request that lands after the last update checked for more work, but before the run is
    // marked over, must start an update of its own, not join the run that is ending.
    for (let hops = 0; hops < 6; hops++) {
      const records = [record('api', 32768)]
      const {expected, onDisk, sync} = harness(records)
      await sync.schedule()
      expected(records)
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
      expect(onDisk(), `change made ${hops} microtask hop(s) after the update began`).toBe(expected(records).config)
    }
  })

  it('keeps the files when the rewritten config fails validation, though the worker has the change, and retries after retryDelayMs', async () => {
    vi.useFakeTimers({toFake: ['setTimeout', 'clearTimeout']})
    const records = [record('api', 32768)]
    const {calls, expected, gates, logs, onDisk, sync} = harness(records, {retryDelayMs: 1000})
    await sync.schedule()
    const good = expected(records).config
    gates.validate.held = true
    records.push(record('web', 32769))
    const failing = sync.schedule()
    await gates.validate.arrived()
    gates.validate.release(new Error('rejected'))
    await failing
    expect(logs).toEqual(['proxy update failed, retrying in 1000 ms: rejected'])
    expect(onDisk()).toBe(good)
    expect(calls).toHaveLength(2)
    expect(sync.configHash).toBe(expected(records).hash)

    const renders = sync.renders
    vi.advanceTimersByTime(999)
    expect(sync.renders).toBe(renders)
    vi.advanceTimersByTime(1)
    expect(sync.renders).toBe(renders + 1)
    await gates.validate.arrived()
    gates.validate.release()
    await sync.schedule()
    expect(onDisk()).toBe(expected(records).config)
    // The worker already had it: no second runtime call, no reload.
    expect(calls).toHaveLength(2)
  })

  it('retries a failed reload, and stop() cancels a pending retry', async () => {
    vi.useFakeTimers({toFake: ['setTimeout', 'clearTimeout']})
    const {calls, gates, logs, sync} = harness([record('api', 32768)], {retryDelayMs: 1000})
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
    expect(calls).toEqual([])
  })
})

describe('ProxySync when rendering itself fails', () => {
  it('never rejects: it logs, retries, and updates once the records can be read again', async () => {
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
        runtime: async () => '',
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
