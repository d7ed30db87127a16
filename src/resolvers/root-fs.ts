/**
 * The machine's files as dns-setup sees them: every path is a system path ("/etc/resolv.conf")
 * mapped under a root directory ('/' for real, a scratch directory in tests), symlinks are followed
 * inside that root, and writes are atomic where the kernel allows it.
 *
 * Atomic write: a temporary file beside the target, then rename over it. A file that is itself a
 * mount point (a bind mount of a single file, as Docker and `unshare --mount` set up) cannot be
 * renamed over (EBUSY, or EXDEV across filesystems): it is written in place instead. Mount points
 * are recognised from /proc/self/mountinfo before anything is written, so no temporary file is
 * ever created beside a bind-mounted file (its directory is the real machine's).
 */
import * as fsp from 'node:fs/promises'
import {constants, type Stats} from 'node:fs'
import {randomBytes} from 'node:crypto'
import {join, posix} from 'node:path'
import {UserError} from '../core/errors.js'

/** The part of node:fs/promises used here; tests wrap it to inject faults. */
export type FsLike = Pick<
  typeof fsp,
  | 'readFile'
  | 'writeFile'
  | 'rename'
  | 'unlink'
  | 'mkdir'
  | 'rmdir'
  | 'lstat'
  | 'stat'
  | 'readlink'
  | 'readdir'
  | 'access'
  | 'chmod'
  | 'chown'
  | 'open'
  | 'realpath'
>

export type WriteMethod = 'created' | 'renamed' | 'in-place'

/** What lstat says of a path itself (a symlink is not followed): its kind, owner and permission bits. */
export interface Entry {
  kind: 'file' | 'dir' | 'symlink' | 'other'
  uid: number
  /** Permission bits only (mode & 0o7777). */
  mode: number
}

const MAX_LINKS = 40

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code
}

/** A filesystem error as one line the user can act on. */
function fsError(error: unknown, path: string, verb: string): UserError {
  const code = errorCode(error)
  const reasons: Record<string, [string, string | undefined]> = {
    EROFS: ['it is on a read-only file system', 'remount it read-write, or make the change by hand where the file is managed'],
    EACCES: ['permission denied', 'rerun with sudo'],
    EPERM: ['operation not permitted (is the file immutable? see `lsattr`)', 'remove the immutable flag (`chattr -i`) or make the change by hand'],
    EISDIR: ['it is a directory, not a file', 'it should be a regular file or a symlink to one'],
    ENOTDIR: ['a component of the path is not a directory', undefined],
    ENOSPC: ['no space left on the device', 'free some space and rerun'],
    ENOENT: ['it does not exist', undefined],
  }
  const [why, suggestion] = reasons[code ?? ''] ?? [(error as Error)?.message ?? String(error), undefined]
  return new UserError(`cannot ${verb} ${path}: ${why}`, {suggestion, cause: error})
}

function unescapeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)))
}

/** One filesystem root seen as `/` (not a Docker host, which "host" means everywhere else in highway). */
export class RootFs {
  constructor(
    readonly root: string,
    readonly fs: FsLike = fsp,
  ) {}

  /** The real path of a system path. */
  real(path: string): string {
    return this.root === '/' ? path : join(this.root, path)
  }

  async read(path: string): Promise<string | null> {
    try {
      return await this.fs.readFile(this.real(path), 'utf8')
    } catch (error) {
      if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return null
      throw fsError(error, path, 'read')
    }
  }

  async kind(path: string): Promise<'file' | 'dir' | 'symlink' | 'missing' | 'other'> {
    try {
      const stat = await this.fs.lstat(this.real(path))
      if (stat.isSymbolicLink()) return 'symlink'
      if (stat.isDirectory()) return 'dir'
      if (stat.isFile()) return 'file'
      return 'other'
    } catch (error) {
      if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return 'missing'
      throw fsError(error, path, 'inspect')
    }
  }

  /** The path itself, never what a symlink points at; null when it does not exist. */
  async entry(path: string): Promise<Entry | null> {
    let stat: Stats
    try {
      stat = (await this.fs.lstat(this.real(path))) as Stats
    } catch (error) {
      if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return null
      throw fsError(error, path, 'inspect')
    }
    const kind = stat.isSymbolicLink() ? 'symlink' : stat.isDirectory() ? 'dir' : stat.isFile() ? 'file' : 'other'
    return {kind, uid: stat.uid, mode: stat.mode & 0o7777}
  }

  async isDir(path: string): Promise<boolean> {
    try {
      return (await this.fs.stat(this.real(path))).isDirectory()
    } catch {
      return false
    }
  }

  async exists(path: string): Promise<boolean> {
    return (await this.kind(path)) !== 'missing'
  }

  async list(path: string): Promise<string[]> {
    try {
      return (await this.fs.readdir(this.real(path))).sort()
    } catch {
      return []
    }
  }

  /**
   * Follows a chain of symlinks inside the root: an absolute target means the root's own path, so a
   * scratch root laid out like a real machine (/etc/resolv.conf -> /run/...) never escapes it.
   */
  async followLinks(path: string): Promise<{links: string[]; target: string}> {
    const links: string[] = []
    let current = path
    for (let hop = 0; hop < MAX_LINKS; hop++) {
      if ((await this.kind(current)) !== 'symlink') return {links, target: current}
      const pointsAt = await this.fs.readlink(this.real(current))
      current = posix.resolve(posix.dirname(current), pointsAt)
      links.push(current)
    }
    throw new UserError(`${path} is a loop of symlinks (more than ${MAX_LINKS} hops)`)
  }

  /** Directories of `path` that do not exist yet, outermost first. */
  async missingDirs(path: string): Promise<string[]> {
    const missing: string[] = []
    let dir = posix.dirname(path)
    while (dir !== '/' && !(await this.exists(dir))) {
      missing.unshift(dir)
      dir = posix.dirname(dir)
    }
    return missing
  }

  /** Fails early, before anything is changed, when `path` could not be written. */
  async assertWritable(path: string): Promise<void> {
    const kind = await this.kind(path)
    if (kind === 'dir') throw fsError(Object.assign(new Error('EISDIR'), {code: 'EISDIR'}), path, 'write')
    let probe = path
    if (kind === 'missing') {
      probe = posix.dirname(path)
      while (probe !== '/' && !(await this.exists(probe))) probe = posix.dirname(probe)
    }
    try {
      await this.fs.access(this.real(probe), constants.W_OK)
    } catch (error) {
      throw fsError(error, path, 'write')
    }
  }

  async ensureDirs(dirs: string[]): Promise<string[]> {
    const created: string[] = []
    for (const dir of dirs) {
      if (await this.exists(dir)) continue
      try {
        await this.fs.mkdir(this.real(dir), {mode: 0o755})
      } catch (error) {
        throw fsError(error, dir, 'create directory')
      }
      created.push(dir)
    }
    return created
  }

  /** Removes a directory only if it is empty; says whether it did. */
  async removeDirIfEmpty(dir: string): Promise<boolean> {
    try {
      await this.fs.rmdir(this.real(dir))
      return true
    } catch {
      return false
    }
  }

  async remove(path: string): Promise<boolean> {
    try {
      await this.fs.unlink(this.real(path))
      return true
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return false
      throw fsError(error, path, 'remove')
    }
  }

  /** Whether the real file is a mount point of its own (a bind-mounted single file). */
  async isMountPoint(path: string): Promise<boolean> {
    let mountinfo: string
    let real: string
    try {
      mountinfo = await this.fs.readFile('/proc/self/mountinfo', 'utf8')
      real = await this.fs.realpath(this.real(path))
    } catch {
      return false
    }
    return mountinfo.split('\n').some((line) => {
      const field = line.split(' ')[4]
      return field !== undefined && unescapeMountPath(field) === real
    })
  }

  /**
   * Writes `content` to `path`: a new file is created with mode 0644; an existing one is replaced
   * atomically (same mode and owner), or written in place when it is a mount point.
   */
  async write(path: string, content: string): Promise<WriteMethod> {
    const file = this.real(path)
    let stat: Stats | undefined
    try {
      stat = (await this.fs.stat(file)) as Stats
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw fsError(error, path, 'write')
    }
    if (stat?.isDirectory()) throw fsError(Object.assign(new Error('EISDIR'), {code: 'EISDIR'}), path, 'write')
    if (!stat) {
      try {
        await this.fs.writeFile(file, content, {mode: 0o644, flag: 'wx'})
      } catch (error) {
        throw fsError(error, path, 'create')
      }
      return 'created'
    }
    if (await this.isMountPoint(path)) {
      await this.writeInPlace(path, content)
      return 'in-place'
    }
    const mode = stat.mode & 0o7777
    const temp = posix.join(posix.dirname(file), `.${posix.basename(file)}.highway-${process.pid}-${randomBytes(4).toString('hex')}`)
    try {
      const handle = await this.fs.open(temp, 'wx', mode)
      try {
        await handle.writeFile(content)
        await handle.sync()
      } finally {
        await handle.close()
      }
      await this.fs.chmod(temp, mode)
      await this.fs.chown(temp, stat.uid, stat.gid).catch(() => {})
      await this.fs.rename(temp, file)
      return 'renamed'
    } catch (error) {
      await this.fs.unlink(temp).catch(() => {})
      // A file mounted on its own cannot be replaced by rename: write it in place instead. The same
      // when its directory refuses a new file but the file itself is writable.
      if (['EBUSY', 'EXDEV', 'EROFS', 'EACCES', 'EPERM'].includes(errorCode(error) ?? '')) {
        await this.writeInPlace(path, content)
        return 'in-place'
      }
      throw fsError(error, path, 'write')
    }
  }

  private async writeInPlace(path: string, content: string): Promise<void> {
    try {
      const handle = await this.fs.open(this.real(path), 'r+')
      try {
        await handle.truncate(0)
        await handle.write(content, 0, 'utf8')
        await handle.sync()
      } finally {
        await handle.close()
      }
    } catch (error) {
      throw fsError(error, path, 'write')
    }
  }
}
