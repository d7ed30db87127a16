import {readdir, rename, rm, writeFile} from 'node:fs/promises'
import {basename, join} from 'node:path'
import {runProcess} from '../core/process.js'
import type {ServiceRecord} from '../core/types.js'
import {CONFIG_PATH, MASTER_SOCKET, RUN_DIR, renderProxyConfig, type RenderedProxyConfig} from '../proxy/haproxy.js'
import {masterCommand, reload} from '../proxy/master.js'
import {planRuntime, type LiveProxy} from '../proxy/runtime.js'

export interface ProxySyncOptions {
  domain: string
  /** This agent's host: its containers are reached directly (see renderProxyConfig). */
  localHostId?: string
  /** This host's bridge IP and advertise address: no server may point at highway's own listeners there. */
  bridgeIp?: string
  advertiseIp?: string
  tcpRange?: string
  runDir?: string
  log: (message: string) => void
  /** Checks a candidate config file; rejects with HAProxy's complaint. Injectable for tests. */
  validate?: (configPath: string) => Promise<void>
  /** Loads the swapped-in config; rejects when HAProxy refuses. Injectable for tests. */
  reload?: (masterSocket: string) => Promise<void>
  /** Sends runtime API commands to the current worker and returns its answer. Injectable for tests. */
  runtime?: (masterSocket: string, commands: string[]) => Promise<string>
  retryDelayMs?: number
  /** How often deleting servers that still hold connections is tried again. */
  leavingRetryMs?: number
}

/** The master CLI reads one line per request: long batches go in several. */
const BATCH = 40

/** `@1` addresses the current worker through the master CLI. */
async function runtimeCommands(masterSocket: string, commands: string[]): Promise<string> {
  let output = ''
  for (let i = 0; i < commands.length; i += BATCH) {
    output += await masterCommand(
      masterSocket,
      commands
        .slice(i, i + BATCH)
        .map((command) => `@1 ${command}`)
        .join('; '),
    )
  }
  return output
}

/** HAProxy answers a refused runtime command with a sentence, not a status: these are the ones it uses. */
const REFUSED = /No such|Unknown|error|invalid|not found|cannot|can't|already exists|Only servers|Require|failed|not allowed/i

async function haproxyCheck(configPath: string): Promise<void> {
  const check = await runProcess('haproxy', ['-c', '-q', '-f', configPath])
  if (check.code !== 0) throw new Error(`rendered config rejected by haproxy -c: ${check.stderr.trim() || `exit ${check.code}`}`)
}

/**
 * Keeps HAProxy serving the records. A route change (a container started, stopped or moved, a name
 * new or gone) goes to the running worker through the runtime API: no reload, so no connection is
 * ever handed to a new worker or cut. The files on disk are rewritten after each change (validated
 * with `haproxy -c` before they are swapped in) so a restarted proxy serves the same. A reload
 * happens only when the agent starts (it does not know what the worker holds) and when the names
 * outgrow the pool of route backends, which then doubles. Bursts coalesce: while one update runs,
 * later changes only mark the state dirty and one more update follows.
 */
export class ProxySync {
  private lastHash: string | null = null
  /** The rendering the files on disk hold (what a restarted proxy would load). */
  private writtenHash: string | null = null
  /** What the running worker holds; null until the first reload. */
  private live: LiveProxy | null = null
  private running: Promise<void> | null = null
  private dirty = false
  private retryTimer: NodeJS.Timeout | null = null
  private leavingTimer: NodeJS.Timeout | null = null
  /** Updates attempted (changed or not), reloads, and changes made at runtime: what tests and benchmarks count. */
  renders = 0
  reloads = 0
  runtimeUpdates = 0

  constructor(
    private readonly records: () => ServiceRecord[],
    private readonly options: ProxySyncOptions,
  ) {}

  get configHash(): string | null {
    return this.lastHash
  }

  /** Servers taken out whose deletion HAProxy has refused so far (connections still attached). */
  get leaving(): number {
    return this.live?.leaving.size ?? 0
  }

  /** Asks for an update; returns when an update that includes this request has finished. */
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
          await this.updateOnce().catch((error: Error) => this.retryLater(error))
        } while (this.dirty)
      } finally {
        // Cleared in the same step that found nothing dirty: cleared later (a .finally on the
        // promise), a schedule() landing in between would join a run that has already ended.
        this.running = null
      }
    })()
    return this.running
  }

  private get runDir(): string {
    return this.options.runDir ?? RUN_DIR
  }

  private async updateOnce(): Promise<void> {
    this.renders++
    const input = {
      advertiseIp: this.options.advertiseIp,
      bridgeIp: this.options.bridgeIp,
      tcpRange: this.options.tcpRange,
      domain: this.options.domain,
      localHostId: this.options.localHostId,
      records: this.records(),
    }
    const live = this.live
    const rendered = renderProxyConfig(input, live?.state)
    if (!live || rendered.state.backends !== live.state.backends) return this.reloadTo(rendered)
    if (rendered.hash !== this.lastHash) await this.applyAtRuntime(live, rendered)
    if (this.live) await this.deleteLeaving()
    if (this.live && this.writtenHash !== this.lastHash) {
      // The running worker serves the change already; this keeps a restarted proxy serving it too.
      await this.writeFiles(rendered)
      this.writtenHash = rendered.hash
    }
  }

  private async applyAtRuntime(live: LiveProxy, rendered: RenderedProxyConfig): Promise<void> {
    const plan = planRuntime(live, rendered.state)
    const socket = join(this.runDir, basename(MASTER_SOCKET))
    try {
      const answer = await (this.options.runtime ?? runtimeCommands)(socket, plan.commands)
      if (REFUSED.test(answer)) throw new Error(answer.trim().replaceAll(/\s*\n\s*/g, '; '))
    } catch (error) {
      // The worker may hold part of the change: only a reload says for sure what it serves.
      this.options.log(`runtime update refused (${(error as Error).message}); reloading instead`)
      return this.reloadTo(rendered)
    }
    this.runtimeUpdates++
    this.live = plan.next
    this.lastHash = rendered.hash
  }

  /** Writes the files for `rendered`, the config validated before it is swapped in. */
  private async writeFiles(rendered: RenderedProxyConfig): Promise<void> {
    // Each written beside itself and renamed over, so a reader never sees half a file.
    for (const [path, text] of [
      [rendered.mapPath, rendered.map],
      [rendered.statesPath, rendered.states],
    ]) {
      const file = join(this.runDir, basename(path))
      await writeFile(`${file}.new`, text)
      await rename(`${file}.new`, file)
    }
    const configPath = join(this.runDir, basename(CONFIG_PATH))
    const candidate = `${configPath}.new`
    await writeFile(candidate, rendered.config)
    await (this.options.validate ?? haproxyCheck)(candidate)
    await rename(candidate, configPath)
  }

  private async reloadTo(rendered: RenderedProxyConfig): Promise<void> {
    // Until this reload succeeds, what the worker holds is not known: the next update reloads again.
    this.live = null
    const started = performance.now()
    await this.writeFiles(rendered)
    this.writtenHash = rendered.hash
    const written = performance.now()
    await (this.options.reload ?? reload)(join(this.runDir, basename(MASTER_SOCKET)))
    this.reloads++
    const reloaded = performance.now()
    this.live = {leaving: new Map(), state: rendered.state}
    this.lastHash = rendered.hash
    if (process.env.HIGHWAY_DEBUG || reloaded - started > 500) {
      this.options.log(`proxy reloaded: files ${(written - started).toFixed(1)} ms, reload ${(reloaded - written).toFixed(1)} ms`)
    }
    await this.removeOldFiles()
  }

  /** Deletes servers that left; those HAProxy keeps (connections attached) are tried again later. */
  private async deleteLeaving(): Promise<void> {
    const live = this.live
    if (!live || live.leaving.size === 0) return
    const socket = join(this.runDir, basename(MASTER_SOCKET))
    for (const key of [...live.leaving.keys()]) {
      const answer = await (this.options.runtime ?? runtimeCommands)(socket, [`del server ${key}`]).catch((error: Error) => error.message)
      // Gone already counts as deleted (a proxy restarted meanwhile never had it).
      if (/deleted|No such server/i.test(answer)) live.leaving.delete(key)
    }
    if (live.leaving.size > 0 && !this.leavingTimer) {
      this.leavingTimer = setTimeout(() => {
        this.leavingTimer = null
        void this.schedule()
      }, this.options.leavingRetryMs ?? 5000)
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

  /** Route maps named after their content, from versions before the runtime API. */
  private async removeOldFiles(): Promise<void> {
    for (const file of await readdir(this.runDir)) {
      if (file.startsWith('routes-') && file.endsWith('.map')) await rm(join(this.runDir, file), {force: true})
    }
  }

  stop(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer)
    if (this.leavingTimer) clearTimeout(this.leavingTimer)
  }
}
