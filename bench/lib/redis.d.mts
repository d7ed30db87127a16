export function redisServer(port?: number): string[]
export function ensureRedisImage(): Promise<string>

export interface RedisClient {
  /** Sends one command; resolves with the reply's text (null for a nil bulk, "ERR ..." for an error reply). */
  command(...args: Array<string | number>): Promise<string | null>
  /** Resolves, with why, once the connection has ended. */
  closed: Promise<string>
  close(): void
  open(): boolean
}

export function openRedis(options: {address: string; port?: number; timeoutMs?: number}): Promise<RedisClient>
