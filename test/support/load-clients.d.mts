export interface LoadOptions {
  /** Where the proxy listens (the bridge IP), and the Host header that picks the service. */
  address: string
  port?: number
  host: string
  path?: string
  /** Concurrent clients, each with one request in flight at a time. */
  clients?: number
  /** One keep-alive connection per client, or a new connection for every request. */
  mode?: 'keep-alive' | 'fresh'
  /** A request unanswered this long counts as failed. */
  timeoutMs?: number
}

export interface BodySeen {
  count: number
  /** ms from the start of the load. */
  firstAt: number
  lastAt: number
}

export interface LoadResult {
  mode: 'keep-alive' | 'fresh'
  clients: number
  sent: number
  ok: number
  failed: number
  failures: Array<{at: number; kind: string}>
  /** Each 2xx body (trimmed), with when it was first and last seen. */
  bodies: Record<string, BodySeen>
  connections: number
  durationMs: number
}

export interface Load {
  /** Filled in as requests complete. */
  result: LoadResult
  stop(): Promise<LoadResult>
}

export function startLoad(options: LoadOptions): Load
export function describeLoad(result: LoadResult): string
