/**
 * The file layer: symlinks followed inside the root, and the atomic write with its fallback for a
 * file that is a mount point of its own (the real end-to-end case: a copy bind-mounted over
 * /etc/resolv.conf). Mount points and rename failures come from an injected fs layer.
 */
import * as fsp from 'node:fs/promises'
import {chmodSync, readdirSync, statSync} from 'node:fs'
import {join} from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {RootFs, type FsLike} from '../../../src/resolvers/root-fs.js'
import {makeRoot, read, removeRoot} from './helpers.js'

const roots: string[] = []
afterEach(() => {
  for (const root of roots.splice(0)) removeRoot(root)
})

function scratch(files: Record<string, string>, links: Record<string, string> = {}) {
  const root = makeRoot({files, links})
  roots.push(root)
  return root
}

/** node:fs/promises with some calls recorded and some replaced. */
function spyFs(overrides: Partial<Record<keyof FsLike, (...args: never[]) => unknown>>, calls: string[] = []): FsLike {
  const fs: Record<string, unknown> = {}
  for (const name of Object.keys(fsp) as (keyof typeof fsp)[]) {
    const original = fsp[name]
    if (typeof original !== 'function') continue
    fs[name] = (...args: unknown[]) => {
      calls.push(`${name} ${String(args[0])}`)
      const override = overrides[name as keyof FsLike] as ((...a: unknown[]) => unknown) | undefined
      return override ? override(...args) : (original as (...a: unknown[]) => unknown)(...args)
    }
  }
  return fs as unknown as FsLike
}

describe('RootFs', () => {
  it('follows relative and absolute symlinks inside the root', async () => {
    const root = scratch(
      {'/run/systemd/resolve/stub-resolv.conf': 'nameserver 127.0.0.53\n'},
      {'/etc/resolv.conf': '/run/alias.conf', '/run/alias.conf': 'systemd/resolve/stub-resolv.conf'},
    )
    const rootFs = new RootFs(root)
    expect(await rootFs.followLinks('/etc/resolv.conf')).toEqual({
      links: ['/run/alias.conf', '/run/systemd/resolve/stub-resolv.conf'],
      target: '/run/systemd/resolve/stub-resolv.conf',
    })
  })

  it('replaces a file atomically, keeping its mode', async () => {
    const root = scratch({'/etc/resolv.conf': 'nameserver 10.0.0.2\n'})
    chmodSync(join(root, 'etc/resolv.conf'), 0o640)
    const rootFs = new RootFs(root)
    expect(await rootFs.write('/etc/resolv.conf', 'nameserver 172.17.0.1\n')).toBe('renamed')
    expect(read(root, '/etc/resolv.conf')).toBe('nameserver 172.17.0.1\n')
    expect(statSync(join(root, 'etc/resolv.conf')).mode & 0o777).toBe(0o640)
    expect(readdirSync(join(root, 'etc'))).toEqual(['resolv.conf'])
  })

  it('a file bind-mounted on its own (rename fails with EBUSY): written in place, temporary file removed', async () => {
    const root = scratch({'/etc/resolv.conf': 'nameserver 10.0.0.2\nnameserver 10.0.0.3\n'})
    const ebusy = async () => {
      throw Object.assign(new Error('EBUSY: resource busy or locked, rename'), {code: 'EBUSY'})
    }
    const rootFs = new RootFs(root, spyFs({rename: ebusy}))
    expect(await rootFs.write('/etc/resolv.conf', 'nameserver 172.17.0.1\n')).toBe('in-place')
    // Shorter than before: the old tail must be gone (truncated), not left behind.
    expect(read(root, '/etc/resolv.conf')).toBe('nameserver 172.17.0.1\n')
    expect(readdirSync(join(root, 'etc'))).toEqual(['resolv.conf'])
  })

  it('EXDEV (the mount comes from another file system) falls back the same way', async () => {
    const root = scratch({'/etc/resolv.conf': 'nameserver 10.0.0.2\n'})
    const exdev = async () => {
      throw Object.assign(new Error('EXDEV: cross-device link not permitted'), {code: 'EXDEV'})
    }
    const rootFs = new RootFs(root, spyFs({rename: exdev}))
    expect(await rootFs.write('/etc/resolv.conf', 'x\n')).toBe('in-place')
    expect(read(root, '/etc/resolv.conf')).toBe('x\n')
  })

  it('a mount point known from /proc/self/mountinfo is written in place without creating a temporary file beside it', async () => {
    const root = scratch({'/etc/resolv.conf': 'nameserver 10.0.0.2\n'})
    const real = await fsp.realpath(join(root, 'etc/resolv.conf'))
    const escaped = real.replaceAll(' ', '\\040')
    const mountinfo = `22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n266 189 254:0 /tmp/copy ${escaped} rw,relatime - ext4 /dev/vda rw\n`
    const calls: string[] = []
    const readFile = (async (path: string, options: unknown) => (path === '/proc/self/mountinfo' ? mountinfo : fsp.readFile(path, options as 'utf8'))) as never
    const rootFs = new RootFs(root, spyFs({readFile}, calls))
    expect(await rootFs.isMountPoint('/etc/resolv.conf')).toBe(true)
    expect(await rootFs.write('/etc/resolv.conf', 'nameserver 172.17.0.1\n')).toBe('in-place')
    expect(read(root, '/etc/resolv.conf')).toBe('nameserver 172.17.0.1\n')
    expect(calls.filter((call) => call.includes('.highway-'))).toEqual([])
  })

  it('creates a new file with mode 0644', async () => {
    const root = scratch({'/etc/hosts': ''})
    const rootFs = new RootFs(root)
    expect(await rootFs.missingDirs('/etc/resolver/local')).toEqual(['/etc/resolver'])
    expect(await rootFs.ensureDirs(['/etc/resolver'])).toEqual(['/etc/resolver'])
    expect(await rootFs.write('/etc/resolver/local', 'nameserver 127.0.0.1\n')).toBe('created')
    expect(statSync(join(root, 'etc/resolver/local')).mode & 0o777).toBe(0o644)
  })
})
