import {createServer, connect, type Server, type Socket} from 'node:net'
import {HTTP_PORT, type TcpTable} from './table.js'

type Backend = {address: string; port: number}

interface Listener {
  server: Server
  backends: Backend[]
  /** Where the next connection starts looking: connections are spread over the backends in turn. */
  next: number
}

/** How long a backend may take to accept before the next one is tried. */
const CONNECT_TIMEOUT_MS = 2000

/**
 * Serves a TcpTable: one listener per (address, port), each connection piped to one of its
 * backends. A table change touches only the listeners it is about: a listener whose backends change
 * keeps running, and one that goes away stops accepting while its connections go on to their end,
 * so a long session (a database connection, a MONITOR) never notices other services come and go.
 */
export class TcpForwarder {
  private readonly listeners = new Map<string, Listener>()
  /** Connections piped right now, for the logs and the tests. */
  open = 0

  constructor(
    private readonly log: (message: string) => void = () => {},
    /** The port every address serves HTTP on (the tests use another: port 80 wants privileges). */
    private readonly httpPort = HTTP_PORT,
  ) {}

  /** What is listening now, as "address:port". */
  get listening(): string[] {
    return [...this.listeners.keys()].sort()
  }

  /** Serves `table`; `always` are addresses that answer HTTP whatever the names (highway's own, see main.ts). */
  async apply(table: Pick<TcpTable, 'http' | 'names'>, always: string[] = []): Promise<void> {
    const wanted = new Map<string, Backend[]>(always.map((address) => [`${address}:${this.httpPort}`, [table.http]]))
    for (const entry of table.names) {
      wanted.set(`${entry.address}:${this.httpPort}`, [table.http])
      for (const port of entry.ports) wanted.set(`${entry.address}:${port.port}`, port.backends)
    }
    for (const [key, listener] of this.listeners) {
      if (wanted.has(key)) continue
      // close() stops accepting; the connections already piped are not touched.
      listener.server.close()
      this.listeners.delete(key)
    }
    const starting: Array<Promise<void>> = []
    for (const [key, backends] of wanted) {
      const existing = this.listeners.get(key)
      if (existing) {
        existing.backends = backends.map(({address, port}) => ({address, port}))
        continue
      }
      starting.push(this.listen(key, backends))
    }
    await Promise.all(starting)
  }

  close(): void {
    for (const listener of this.listeners.values()) listener.server.close()
    this.listeners.clear()
  }

  private listen(key: string, backends: Backend[]): Promise<void> {
    const separator = key.lastIndexOf(':')
    const host = key.slice(0, separator)
    const port = Number(key.slice(separator + 1))
    const listener: Listener = {
      backends: backends.map(({address, port}) => ({address, port})),
      next: 0,
      server: createServer({allowHalfOpen: true, pauseOnConnect: true}),
    }
    listener.server.on('connection', (client) => this.forward(listener, client))
    this.listeners.set(key, listener)
    return new Promise((resolve) => {
      listener.server.once('error', (error: NodeJS.ErrnoException) => {
        // Not fatal for the others: say why (EADDRNOTAVAIL: the range's route is missing; EADDRINUSE: a host process holds it).
        this.log(`cannot listen on ${key}: ${error.code ?? error.message}`)
        if (this.listeners.get(key) === listener) this.listeners.delete(key)
        resolve()
      })
      listener.server.listen({backlog: 511, host, port}, () => resolve())
    })
  }

  private forward(listener: Listener, client: Socket): void {
    client.setNoDelay(true)
    client.on('error', () => {})
    const candidates = listener.backends.length
    const start = listener.next++
    const attempt = (tried: number): void => {
      const backend = listener.backends[(start + tried) % Math.max(listener.backends.length, 1)]
      if (!backend || tried >= Math.max(candidates, 1) || client.destroyed) {
        // Nothing accepted: reset, so the client fails at once instead of reading an orderly close.
        client.resetAndDestroy()
        return
      }
      const upstream = connect({allowHalfOpen: true, host: backend.address, noDelay: true, port: backend.port, timeout: CONNECT_TIMEOUT_MS})
      const failed = () => {
        upstream.destroy()
        attempt(tried + 1)
      }
      upstream.once('timeout', failed)
      upstream.once('error', failed)
      upstream.once('connect', () => {
        upstream.setTimeout(0)
        upstream.removeListener('timeout', failed)
        upstream.removeListener('error', failed)
        if (client.destroyed) {
          upstream.destroy()
          return
        }
        this.open++
        client.once('close', () => this.open--)
        // A reset on one side resets the other; an orderly end is passed on by pipe() below.
        upstream.on('error', () => client.destroy())
        client.on('error', () => upstream.destroy())
        // pipe() ends the other side when one side ends (a half-close passes through, and what is
        // buffered is written first), and keeps back-pressure: a slow reader slows its writer.
        client.pipe(upstream)
        upstream.pipe(client)
        client.resume()
      })
    }
    attempt(0)
  }
}
