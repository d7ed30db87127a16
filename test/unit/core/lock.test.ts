import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {hostname, tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {describe, expect, it} from 'vitest'
import {acquireLock, type LockHolder} from '../../../src/core/lock.js'
import {rejectedUserError} from '../support/user-error.js'

/** A real lock file in a scratch directory; real processes where a dead or live holder matters. */
function lockPath(): string {
  return join(mkdtempSync(join(tmpdir(), 'highway-lock-')), 'up.lock')
}

/** The pid of a process that has exited: a real dead holder. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', ''])
  return child.pid!
}

function holderFile(path: string, holder: Partial<LockHolder>): void {
  writeFileSync(path, JSON.stringify({host: hostname(), pid: process.pid, since: '2026-01-01T00:00:00.000Z', token: 'other', ...holder}))
}

describe('acquireLock', () => {
  it('writes the holder’s pid, host and time, and removes the file on release', async () => {
    const path = lockPath()
    const lock = await acquireLock(path)
    const written = JSON.parse(readFileSync(path, 'utf8')) as LockHolder
    expect(written).toEqual(lock.holder)
    expect(written.pid).toBe(process.pid)
    expect(written.host).toBe(hostname())
    lock.release()
    lock.release()
    expect(existsSync(path)).toBe(false)
    // Nothing else is left in the directory (no temporary or stale files).
    expect(readdirSync(join(path, '..'))).toEqual([])
  })

  it('makes a second caller wait until the first releases, and tells it once who holds the lock', async () => {
    const path = lockPath()
    const first = await acquireLock(path)
    const waits: LockHolder[] = []
    let second: Awaited<ReturnType<typeof acquireLock>> | undefined
    const pending = acquireLock(path, {onWait: (holder) => waits.push(holder), pollMs: 10}).then((lock) => (second = lock))
    await sleep(100)
    expect(second).toBeUndefined()
    expect(waits).toEqual([first.holder])
    first.release()
    await pending
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(second!.holder)
    second!.release()
  })

  it('never lets two holders in at once, however many race for it', async () => {
    const path = lockPath()
    let inside = 0
    let most = 0
    await Promise.all(
      Array.from({length: 8}, async () => {
        const lock = await acquireLock(path, {pollMs: 5})
        inside++
        most = Math.max(most, inside)
        await sleep(10)
        inside--
        lock.release()
      }),
    )
    expect(most).toBe(1)
    expect(existsSync(path)).toBe(false)
  })

  it('takes over a lock whose holder is dead, without waiting', async () => {
    const path = lockPath()
    holderFile(path, {pid: deadPid(), token: 'dead'})
    const waits: LockHolder[] = []
    const lock = await acquireLock(path, {onWait: (holder) => waits.push(holder)})
    expect(waits).toEqual([])
    expect(JSON.parse(readFileSync(path, 'utf8')).token).toBe(lock.holder.token)
    lock.release()
  })

  it('lets only one of several callers take over a dead holder’s lock at a time', async () => {
    const path = lockPath()
    holderFile(path, {pid: deadPid(), token: 'dead'})
    let inside = 0
    let most = 0
    await Promise.all(
      Array.from({length: 6}, async () => {
        const lock = await acquireLock(path, {pollMs: 5})
        inside++
        most = Math.max(most, inside)
        await sleep(10)
        inside--
        lock.release()
      }),
    )
    expect(most).toBe(1)
  })

  it('takes over a file no holder wrote (empty or not JSON)', async () => {
    for (const content of ['', 'garbage']) {
      const path = lockPath()
      writeFileSync(path, content)
      const lock = await acquireLock(path)
      expect(JSON.parse(readFileSync(path, 'utf8')).token).toBe(lock.holder.token)
      lock.release()
    }
  })

  it('waits for a holder on another host, which it cannot check', async () => {
    const path = lockPath()
    holderFile(path, {host: 'elsewhere', pid: deadPid()})
    const error = await rejectedUserError(() => acquireLock(path, {pollMs: 10, timeoutMs: 50}))
    expect(error.message).toMatch(/^another highway up \(pid \d+ on elsewhere, since 2026-01-01T00:00:00.000Z\) still holds /)
  })

  it('gives up waiting when aborted (Ctrl-C)', async () => {
    const path = lockPath()
    const first = await acquireLock(path)
    const controller = new AbortController()
    const pending = acquireLock(path, {pollMs: 10_000, signal: controller.signal})
    await sleep(20)
    controller.abort(new Error('interrupted'))
    await expect(pending).rejects.toThrow('interrupted')
    expect(JSON.parse(readFileSync(path, 'utf8')).token).toBe(first.holder.token)
    first.release()
  })

  it('does not remove a lock that is no longer its own on release', async () => {
    const path = lockPath()
    const lock = await acquireLock(path)
    holderFile(path, {token: 'someone-else'})
    lock.release()
    expect(JSON.parse(readFileSync(path, 'utf8')).token).toBe('someone-else')
  })
})
