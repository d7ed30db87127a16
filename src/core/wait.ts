import {setTimeout as delay} from 'node:timers/promises'
import {TimeoutError} from './errors.js'

export interface WaitOptions {
  /** Total time allowed, in ms. */
  timeout: number
  /** Pause between attempts, in ms. */
  interval?: number
  /** Says what did not happen, e.g. "etcd did not report healthy at http://172.17.0.1:2379/health". */
  message: string
  /** What the user can do about it, printed under the message. */
  suggestion?: string
  /** Injectable for tests. */
  now?: () => number
  sleep?: (ms: number) => Promise<void>
  signal?: AbortSignal
}

/** The pause before retry number `attempt` (from 0) of a reconnect loop: 200 ms doubling, at most 5 s. */
export const backoff = (attempt: number): Promise<void> => delay(Math.min(5000, 200 * 2 ** attempt))

/**
 * Calls `attempt` until it returns a value other than undefined, or the time runs out. An attempt
 * that throws counts as "not yet"; the last such error is named in the timeout message.
 */
export async function waitFor<T>(attempt: () => Promise<T | undefined>, options: WaitOptions): Promise<T> {
  const now = options.now ?? Date.now
  const pause = options.sleep ?? ((ms: number) => delay(ms))
  const deadline = now() + options.timeout
  let lastError: unknown
  for (;;) {
    options.signal?.throwIfAborted()
    try {
      const value = await attempt()
      if (value !== undefined) return value
    } catch (error) {
      lastError = error
    }
    if (now() >= deadline) {
      const reason = lastError instanceof Error ? ` (last error: ${lastError.message})` : ''
      throw new TimeoutError(`${options.message} after ${options.timeout} ms${reason}`, options.suggestion)
    }
    await pause(options.interval ?? 100)
  }
}
