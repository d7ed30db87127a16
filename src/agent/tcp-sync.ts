import {mkdir, readFile, rename, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import type {ServiceRecord} from '../core/types.js'
import {RUN_DIR} from '../proxy/haproxy.js'
import {HOSTS_DIR, HOSTS_FILE, TABLE_FILE, parseTcpTable, renderHosts, renderTcpTable, type TcpTable} from '../tcp/table.js'

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
 * Keeps the TCP table (read by the forwarder) and the names' hosts file (read by dnsmasq) equal to
 * the records. Both are written beside themselves and renamed over, the table first: a name's address
 * is served before DNS hands it out. A name keeps its address for as long as it has a record, and
 * across agent restarts (the table on disk is where the next agent starts from).
 */
export class TcpSync {
  private previous: TcpTable | null | undefined = undefined
  private written = ''
  private chain: Promise<void> = Promise.resolve()
  /** Tables written (changed ones only): what the tests count. */
  writes = 0

  constructor(
    private readonly records: () => ServiceRecord[],
    private readonly options: TcpSyncOptions,
  ) {}

  private get runDir(): string {
    return this.options.runDir ?? RUN_DIR
  }

  /** Brings the files to the current records; calls queue, so the last one always writes the latest state. */
  schedule(): Promise<void> {
    this.chain = this.chain.then(() =>
      this.update().catch((error: Error) => {
        // The next change or reconcile writes again; what is on disk meanwhile is the last good table.
        this.options.log(`tcp table not written: ${error.message}`)
      }),
    )
    return this.chain
  }

  private async update(): Promise<void> {
    if (this.previous === undefined) {
      this.previous = parseTcpTable(await readFile(join(this.runDir, TABLE_FILE), 'utf8').catch(() => ''))
    }
    const {advertiseIp, bridgeIp, domain, localHostId, range} = this.options
    const table = renderTcpTable({advertiseIp, bridgeIp, domain, localHostId, previous: this.previous, range, records: this.records()})
    const text = `${JSON.stringify(table)}\n`
    if (text === this.written) return
    await replace(join(this.runDir, TABLE_FILE), text)
    await mkdir(join(this.runDir, HOSTS_DIR), {recursive: true})
    await replace(join(this.runDir, HOSTS_DIR, HOSTS_FILE), renderHosts(table, domain))
    this.previous = table
    this.written = text
    this.writes++
  }
}

async function replace(file: string, text: string): Promise<void> {
  // Readable by the group (the forwarder and dnsmasq share it), written whole: a reader never sees half.
  await writeFile(`${file}.new`, text, {mode: 0o640})
  await rename(`${file}.new`, file)
}
