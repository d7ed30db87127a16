import {randomBytes} from 'node:crypto'
import {linkSync, mkdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync} from 'node:fs'
import {hostname} from 'node:os'
import {dirname} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {UserError} from './errors.js'

/** Who holds a lock: written into the lock file, so a waiting process can name it and tell a dead one. */
export interface LockHolder {
  pid: number
  host: string
  /** ISO time the lock was taken. */
  since: string
  /** Tells two holders with the same pid apart (a pid reused after a crash). */
  token: string
}

export interface Lock {
  readonly holder: LockHolder
  /** Removes the lock file if it is still this holder's. Idempotent. */
  release(): void
}

export interface LockOptions {
  /** Called once, when the lock is held by a live process and this one starts waiting. */
  onWait?: (holder: LockHolder) => void
  signal?: AbortSignal
  /** Give up waiting after this long, naming the holder. */
  timeoutMs?: number
  pollMs?: number
  /** Whether a process of this host is alive. Injectable for tests. */
  isAlive?: (pid: number) => boolean
}

export function describeHolder(holder: LockHolder): string {
  return `pid ${holder.pid} on ${holder.host}, since ${holder.since}`
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists, it is only someone else's.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function readHolder(path: string): LockHolder | null {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockHolder>
    if (typeof parsed.pid === 'number' && typeof parsed.host === 'string' && typeof parsed.token === 'string') return parsed as LockHolder
  } catch {
    // Gone, or caught between its creation and its content (impossible with link(), but cheap to allow).
  }
  return null
}

/**
 * Tries once to create the lock file with `holder` in it. link() of a complete temporary file is
 * atomic and fails if the name exists (O_EXCL semantics, also on NFS), so no reader ever sees a
 * lock file without its holder.
 */
function tryCreate(path: string, holder: LockHolder): boolean {
  const temporary = `${path}.${holder.token}`
  writeFileSync(temporary, `${JSON.stringify(holder)}\n`, {mode: 0o644})
  try {
    linkSync(temporary, path)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw error
  } finally {
    rmSync(temporary, {force: true})
  }
}

/**
 * Takes over a lock whose holder died: the file is first renamed aside (only one of two racing
 * takers gets it), then, if what was moved is not the dead holder's after all (a live process took
 * it over in between), it is put back. `stale` null: an unreadable file, which no holder wrote.
 */
function removeStale(path: string, stale: LockHolder | null): void {
  const aside = `${path}.stale.${randomBytes(6).toString('hex')}`
  try {
    renameSync(path, aside)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
    throw error
  }
  const moved = readHolder(aside)
  if (moved && moved.token !== stale?.token) {
    try {
      linkSync(aside, path)
    } catch {
      // Someone else holds it now; the moved holder will find its lock gone at release, which is harmless.
    }
  }
  rmSync(aside, {force: true})
}

/**
 * A lock between processes of this machine, as a file holding the holder's pid. A second caller
 * waits (saying who holds it) until the holder releases it or dies; a lock left by a dead process
 * (SIGKILL, a power cut) is taken over. A holder on another host (a config directory on a shared
 * file system) cannot be checked and is waited for.
 */
export async function acquireLock(path: string, options: LockOptions = {}): Promise<Lock> {
  mkdirSync(dirname(path), {recursive: true})
  const isAlive = options.isAlive ?? processAlive
  const holder: LockHolder = {host: hostname(), pid: process.pid, since: new Date().toISOString(), token: randomBytes(8).toString('hex')}
  const started = Date.now()
  let told = false
  for (;;) {
    options.signal?.throwIfAborted()
    if (tryCreate(path, holder)) break
    const current = readHolder(path)
    // Unreadable: not written by this code (its files are complete from the start), so not a holder.
    if (current === null) {
      removeStale(path, null)
      continue
    }
    if (current.host === holder.host && !isAlive(current.pid)) {
      removeStale(path, current)
      continue
    }
    if (!told) {
      told = true
      options.onWait?.(current)
    }
    if (options.timeoutMs !== undefined && Date.now() - started > options.timeoutMs) {
      throw new UserError(`another highway up (${describeHolder(current)}) still holds ${path}`, {
        suggestion: `wait for it to finish; if that process is not highway, remove ${path}`,
      })
    }
    await sleep(options.pollMs ?? 200, undefined, {signal: options.signal}).catch(() => options.signal?.throwIfAborted())
  }
  let released = false
  return {
    holder,
    release: () => {
      if (released) return
      released = true
      if (readHolder(path)?.token !== holder.token) return
      try {
        unlinkSync(path)
      } catch {
        // Already gone.
      }
    },
  }
}
