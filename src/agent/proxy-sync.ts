import {existsSync} from 'node:fs'
import {readdir, rename, rm, writeFile} from 'node:fs/promises'
import {basename, join} from 'node:path'
import {runProcess} from '../core/process.js'
import type {ServiceRecord} from '../core/types.js'
import {CONFIG_PATH, MASTER_SOCKET, RUN_DIR, SPARE_BACKENDS, renderProxyConfig} from '../proxy/haproxy.js'
import {masterCommand, reload} from '../proxy/master.js'

export interface ProxySyncOptions {
  domain: string
  /** This agent's host: its containers are reached directly (see renderProxyConfig). */
  localHostId?: string
  /** This host's bridge IP: no server may point at highway's own listeners there. */
  bridgeIp?: string
  runDir?: string
  log: (message: string) => void
  /** Checks a candidate config file; rejects with HAProxy's complaint. Injectable for tests. */
  validate?: (configPath: string) => Promise<void>
  /** Loads the swapped-in config; rejects when HAProxy refuses. Injectable for tests. */
  reload?: (masterSocket: string) => Promise<void>
  /** Sends runtime API commands (each already prefixed for the current worker). Injectable for tests. */
  runtime?: (masterSocket: string, commands: string[]) => Promise<void>
  retryDelayMs?: number
}

async function runtimeCommands(masterSocket: string, commands: string[]): Promise<void> {
  const output = await masterCommand(masterSocket, commands.join('; '))
  if (/No such|Unknown|error|invalid|not found/i.test(output)) throw new Error(output.trim())
}

/** `@1` addresses the current worker through the master CLI. */
const worker = (command: string) => `@1 ${command}`

async function haproxyCheck(configPath: string): Promise<void> {
  const check = await runProcess('haproxy', ['-c', '-q', '-f', configPath])
  if (check.code !== 0) throw new Error(`rendered config rejected by haproxy -c: ${check.stderr.trim() || `exit ${check.code}`}`)
}

/**
 * Keeps HAProxy's config equal to the records: render, skip when unchanged, validate with
 * `haproxy -c` before swapping the file in, then reload through the master socket. Bursts coalesce:
 * while one render runs, later changes only mark the state dirty and one more render follows.
 */
export class ProxySync {
  private lastHash: string | null = null
  /** Servers of the config HAProxy runs now. */
  private liveServers = new Set<string>()
  /** Names in the config HAProxy runs now, and its route map: new names go live at runtime against it. */
  private liveNames = new Set<string>()
  private liveMapPath: string | null = null
  /** Spare backends the running worker has used since its reload. */
  private sparesUsed = 0
  private running: Promise<void> | null = null
  private dirty = false
  private retryTimer: NodeJS.Timeout | null = null
  /** Renders attempted (changed or not) and reloads done: what the coalescing tests and benchmarks count. */
  renders = 0
  reloads = 0

  constructor(
    private readonly records: () => ServiceRecord[],
    private readonly options: ProxySyncOptions,
  ) {}

  get configHash(): string | null {
    return this.lastHash
  }

  /** Asks for a render; returns when a render that includes this request has finished. */
  schedule(): Promise<void> {
    if (this.running) {
      this.dirty = true
      return this.running
    }
    this.running = (async () => {
      try {
        do {
          this.dirty = false
          // Whatever fails is retried, never thrown at the caller: the agent schedules from timers and callbacks.
          await this.renderOnce().catch((error: Error) => this.retryLater(error))
        } while (this.dirty)
      } finally {
        // Cleared in the same step that found nothing dirty: cleared later (a .finally on the
        // promise), a schedule() landing in between would join a run that has already ended.
        this.running = null
      }
    })()
    return this.running
  }

  private async renderOnce(): Promise<void> {
    const runDir = this.options.runDir ?? RUN_DIR
    this.renders++
    const rendered = renderProxyConfig({
      bridgeIp: this.options.bridgeIp,
      domain: this.options.domain,
      localHostId: this.options.localHostId,
      records: this.records(),
    })
    if (rendered.hash === this.lastHash) return
    const mapPath = join(runDir, basename(rendered.mapPath))
    const configPath = join(runDir, basename(CONFIG_PATH))
    const socket = join(runDir, basename(MASTER_SOCKET))
    // A server that left (its container died or stopped) is taken out at once through the runtime
    // API: the reload below takes ~50 ms, and Docker's teardown of the container makes it slower.
    const wanted = new Set(rendered.servers)
    const runtime = this.options.runtime ?? runtimeCommands
    const gone = [...this.liveServers].filter((server) => !wanted.has(server))
    if (gone.length > 0) {
      await runtime(
        socket,
        gone.map((server) => worker(`set server ${server} state maint`)),
      ).catch((error: Error) => this.options.log(`taking ${gone.length} server(s) out at runtime failed (the reload follows): ${error.message}`))
    }
    // A brand-new name goes live at once in a spare backend; the reload below makes it canonical.
    for (const route of rendered.routes) {
      if (!this.liveMapPath || route.servers.length === 0 || this.liveNames.has(route.name) || this.sparesUsed >= SPARE_BACKENDS.length) continue
      const spare = SPARE_BACKENDS[this.sparesUsed++]
      const commands = route.servers.flatMap((server) => [
        worker(`add server ${spare}/c${server.id} ${server.address}:${server.port}`),
        worker(`enable server ${spare}/c${server.id}`),
      ])
      await runtime(socket, [...commands, worker(`add map ${this.liveMapPath} ${route.host} ${spare}`)]).catch((error: Error) =>
        this.options.log(`switching ${route.host} on at runtime failed (the reload follows): ${error.message}`),
      )
    }
    try {
      // Written beside itself and renamed over: the map's name is its content's hash, so a half-written
      // file (the agent killed midway) would otherwise pass for the whole map and stay.
      if (!existsSync(mapPath)) {
        await writeFile(`${mapPath}.new`, rendered.map)
        await rename(`${mapPath}.new`, mapPath)
      }
      const candidate = `${configPath}.new`
      await writeFile(candidate, rendered.config.replaceAll(rendered.mapPath, mapPath))
      const started = performance.now()
      await (this.options.validate ?? haproxyCheck)(candidate)
      const checked = performance.now()
      await rename(candidate, configPath)
      await (this.options.reload ?? reload)(socket)
      this.reloads++
      const reloaded = performance.now()
      this.liveServers = wanted
      this.liveNames = new Set(rendered.routes.map((route) => route.name))
      this.liveMapPath = mapPath
      this.sparesUsed = 0
      if (process.env.HIGHWAY_DEBUG || reloaded - started > 500) {
        this.options.log(`proxy updated: check ${(checked - started).toFixed(1)} ms, reload ${(reloaded - checked).toFixed(1)} ms`)
      }
      this.lastHash = rendered.hash
      await this.removeOldMaps(runDir, basename(mapPath))
    } catch (error) {
      this.retryLater(error as Error)
    }
  }

  private retryLater(error: Error): void {
    const delay = this.options.retryDelayMs ?? 1000
    this.options.log(`proxy update failed, retrying in ${delay} ms: ${error.message}`)
    this.retryTimer ??= setTimeout(() => {
      this.retryTimer = null
      void this.schedule()
    }, delay)
  }

  private async removeOldMaps(runDir: string, keep: string): Promise<void> {
    for (const file of await readdir(runDir)) {
      if (file.startsWith('routes-') && file.endsWith('.map') && file !== keep) await rm(join(runDir, file), {force: true})
    }
  }

  stop(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer)
  }
}
