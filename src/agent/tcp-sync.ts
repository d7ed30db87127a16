import {readFile, rename, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import type {ServiceRecord} from '../core/types.js'
import {RUN_DIR} from '../proxy/haproxy.js'
import {TABLE_FILE, parseTcpTable, renderTcpTable, type TcpTable} from '../tcp/table.js'

export interface TcpSyncOptions {
  domain: string
  /** highway's address range for names (Settings.tcpRange). */
  range: string
  localHostId?: string
  bridgeIp?: string
  advertiseIp?: string
  runDir?: string
  log: (message: string) => void
}

/**
 * Keeps the TCP table equal to the records: the forwarder serves it, and writes the names' hosts file
 * for dnsmasq once it listens. A name keeps its address for as long as it has a record, and across
 * agent restarts (the table on disk is where the next agent starts from).
 */
export class TcpSync {
  private previous: TcpTable | null | undefined = undefined
  private written = ''
  private chain: Promise<void> = Promise.resolve()
  private queued: Promise<void> | null = null
  /** Tables rendered, and written (changed ones only): what the tests count. */
  renders = 0
  writes = 0

  constructor(
    private readonly records: () => ServiceRecord[],
    private readonly options: TcpSyncOptions,
  ) {}

  private get runDir(): string {
    return this.options.runDir ?? RUN_DIR
  }

  /**
   * Brings the file to the current records. Bursts coalesce: calls made while an update waits to start
   * share it (it reads the records when it starts), so 1,000 changes at once render a few tables, not 1,000.
   */
  schedule(): Promise<void> {
    if (this.queued) return this.queued
    const run = this.chain.then(() => {
      this.queued = null
      return this.update().catch((error: Error) => {
        // The next change or reconcile writes again; what is on disk meanwhile is the last good table.
        this.options.log(`tcp table not written: ${error.message}`)
      })
    })
    this.queued = run
    this.chain = run
    return run
  }

  private async update(): Promise<void> {
    this.renders++
    if (this.previous === undefined) {
      this.previous = parseTcpTable(await readFile(join(this.runDir, TABLE_FILE), 'utf8').catch(() => ''))
    }
    const {advertiseIp, bridgeIp, domain, localHostId, range} = this.options
    const table = renderTcpTable({advertiseIp, bridgeIp, domain, localHostId, previous: this.previous, range, records: this.records()})
    const text = `${JSON.stringify(table)}\n`
    if (text === this.written) return
    const file = join(this.runDir, TABLE_FILE)
    // Written beside itself and renamed over: the forwarder never reads half a table.
    await writeFile(`${file}.new`, text, {mode: 0o640})
    await rename(`${file}.new`, file)
    this.previous = table
    this.written = text
    this.writes++
  }
}
