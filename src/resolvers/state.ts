/**
 * The record of what dns-setup did, so `--undo` reverses exactly that: the mechanism, each file it
 * created or edited (an edited file with its original content and the checksum of what highway
 * wrote), the runtime settings it put in place and the commands it ran. One JSON file per machine.
 */
import {createHash} from 'node:crypto'
import {posix} from 'node:path'
import {UserError, isUserError} from '../core/errors.js'
import {assertDomain, assertIPv4} from '../core/validate.js'
import {MECHANISMS, mechanism} from './mechanisms/index.js'
import {RESOLV_CONF} from './resolv-file.js'
import {isRecord, isString, isStringArray} from './mechanisms/shared.js'
import type {RootFs} from './root-fs.js'
import type {Mechanism, Platform, Runtime} from './types.js'

const STATE_SCHEMA = 1

interface RecordedCommand {
  cmd: string
  args: string[]
  input?: string
}

export type StateFileEntry =
  /** A file highway created and owns outright: undo removes it. */
  | {path: string; action: 'created'; writtenSha256: string}
  /** A shared file highway edited: undo restores `original` if the file still is what highway wrote. */
  | {path: string; action: 'edited'; original: string; originalSha256: string; writtenSha256: string; backup: string}

export interface DnsSetupState {
  schema: typeof STATE_SCHEMA
  tool: 'highway dns-setup'
  createdAt: string
  updatedAt: string
  platform: Platform
  mechanism: Mechanism
  description: string
  domain: string
  dnsIp: string
  files: StateFileEntry[]
  /** Directories highway created (outermost first); undo removes them if they are empty. */
  dirsCreated: string[]
  /** Directories created to hold this record and its backups; removed with it when empty. */
  stateDirsCreated: string[]
  runtime: Runtime[]
  /** True when the change lives only until a reboot or until docker0 is recreated. */
  runtimeOnly: boolean
  /** Every command dns-setup ran successfully to apply the change, in order. */
  commands: RecordedCommand[]
  /** The commands undo runs when nothing changed since (undo recomputes them from what it finds). */
  undo: RecordedCommand[]
}

export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex')
}

export function stateDir(platform: Platform): string {
  if (platform === 'darwin') return '/var/db/highway'
  if (platform === 'win32') return '/ProgramData/highway'
  return '/var/lib/highway'
}

export function statePath(platform: Platform): string {
  return posix.join(stateDir(platform), 'dns-setup.json')
}

export function backupPath(platform: Platform, path: string): string {
  return posix.join(stateDir(platform), 'backup', path)
}

function corrupt(path: string, why: string, cause?: unknown): UserError {
  return new UserError(`the dns-setup record ${path} is unreadable: ${why}`, {
    suggestion: `inspect it; if highway's DNS change is no longer in place (or you removed it by hand), delete the record (sudo rm ${path}) and rerun`,
    cause,
  })
}

function validEntry(entry: unknown): entry is StateFileEntry {
  const e = entry as Record<string, unknown>
  if (!e || typeof e !== 'object' || !isString(e.path) || !isString(e.writtenSha256)) return false
  if (e.action === 'created') return true
  return e.action === 'edited' && isString(e.original) && isString(e.originalSha256) && isString(e.backup)
}

function validCommand(command: unknown): command is RecordedCommand {
  const c = command as Record<string, unknown>
  return Boolean(c) && isString(c.cmd) && isStringArray(c.args) && (c.input === undefined || isString(c.input))
}

/**
 * Refuses a state directory (or record) anyone but root could have planted or could rewrite: a
 * symlink (never followed: it could lead dns-setup to write its record or backups anywhere), an
 * owner other than root, or group/other write permission. On Windows, modes and owners say nothing
 * (the folder's ACL, set by the mechanism when it creates it, is what protects it): only links count.
 */
export async function assertSafeStateDir(rootFs: RootFs, platform: Platform): Promise<void> {
  const dir = stateDir(platform)
  const checks: [string, 'dir' | 'file', string][] = [
    [dir, 'dir', "highway's state directory"],
    [posix.join(dir, 'backup'), 'dir', "highway's backup directory"],
    [statePath(platform), 'file', 'the dns-setup record'],
  ]
  for (const [path, expected, what] of checks) {
    const entry = await rootFs.entry(path)
    if (!entry) continue
    const real = rootFs.real(path)
    if (entry.kind === 'symlink') {
      const target = await rootFs.fs.readlink(real).catch(() => '?')
      throw new UserError(`${what} ${real} is a symlink (to ${target}); highway does not follow a link it did not make`, {
        suggestion: `remove the link (sudo rm ${real}) and rerun: highway makes its own ${expected === 'dir' ? 'directory' : 'record'}`,
      })
    }
    if (entry.kind !== expected) {
      throw new UserError(`${what} ${real} is not a ${expected === 'dir' ? 'directory' : 'regular file'}`, {
        suggestion: `find out what made it, move it away and rerun`,
      })
    }
    if (platform === 'win32') continue
    if (entry.uid !== 0 || (entry.mode & 0o022) !== 0) {
      const mode = entry.mode.toString(8).padStart(4, '0')
      const fix = expected === 'dir' ? `sudo chown 0:0 ${real} && sudo chmod 755 ${real}` : `sudo chown 0:0 ${real} && sudo chmod 644 ${real}`
      throw new UserError(
        `${what} ${real} is owned by uid ${entry.uid} with mode ${mode}: only root may own or write it, or someone else could rewrite what dns-setup and --undo do`,
        {
          suggestion: `if you trust its content, \`${fix}\`; if highway made it and no dns-setup is in place, remove it (sudo rm -r ${real}) and rerun`,
        },
      )
    }
  }
}

/** The record, or null when there is none. A corrupt or foreign record is a UserError, never a crash. */
export async function loadState(rootFs: RootFs, platform: Platform): Promise<DnsSetupState | null> {
  const path = statePath(platform)
  await assertSafeStateDir(rootFs, platform)
  const text = await rootFs.read(path)
  if (text === null) return null
  let data: Record<string, unknown>
  try {
    data = JSON.parse(text)
  } catch (error) {
    throw corrupt(path, `it is not valid JSON (${(error as Error).message})`, error)
  }
  if (!data || typeof data !== 'object' || Array.isArray(data)) throw corrupt(path, 'it is not a JSON object')
  if (data.schema !== STATE_SCHEMA) {
    throw new UserError(
      `the dns-setup record ${path} was written by another version of highway (schema ${JSON.stringify(data.schema ?? null)}; this one reads schema ${STATE_SCHEMA})`,
      {suggestion: `undo with the highway that wrote it, or inspect the record, undo its changes by hand and delete it (sudo rm ${path})`},
    )
  }
  const valid =
    MECHANISMS.some((candidate) => candidate.name === data.mechanism) &&
    isString(data.domain) &&
    isString(data.dnsIp) &&
    isString(data.description) &&
    Array.isArray(data.files) &&
    data.files.every(validEntry) &&
    isStringArray(data.dirsCreated) &&
    isStringArray(data.stateDirsCreated) &&
    Array.isArray(data.runtime) &&
    data.runtime.every((runtime) => isRecord(runtime) && MECHANISMS.some((candidate) => candidate.validRuntime?.(runtime))) &&
    Array.isArray(data.commands) &&
    data.commands.every(validCommand) &&
    Array.isArray(data.undo) &&
    data.undo.every(validCommand) &&
    typeof data.runtimeOnly === 'boolean'
  if (!valid) throw corrupt(path, 'a field is missing or has the wrong type')
  return data as unknown as DnsSetupState
}

function forged(path: string, why: string): UserError {
  return new UserError(`the dns-setup record ${path} ${why}: refusing to undo from it`, {
    suggestion: `it was not written by highway: inspect it, undo highway's DNS change by hand and delete the record (sudo rm ${path})`,
  })
}

const isUnder = (path: string, dir: string) => path.startsWith(dir === '/' ? '/' : `${dir}/`)

/**
 * Refuses a record naming a file, backup or directory outside what its mechanism can write, so a
 * forged record cannot make `--undo` overwrite or delete, say, /etc/shadow. The files a mechanism
 * writes come from its `writes` (where /etc/resolv.conf leads now, for those that edit it); backups
 * are exactly where dns-setup puts them, inside the state directory.
 */
export async function assertConfinedRecord(rootFs: RootFs, platform: Platform, state: DnsSetupState): Promise<void> {
  const path = rootFs.real(statePath(platform))
  const def = mechanism(state.mechanism)
  if (state.platform !== platform || def.platform !== platform) {
    throw forged(path, `is for ${state.mechanism} on ${String(state.platform)}, not for this ${platform} machine`)
  }
  try {
    assertDomain(state.domain)
    assertIPv4(state.dnsIp, 'DNS address')
  } catch (error) {
    if (!isUserError(error)) throw error
    throw forged(path, `has an invalid domain or address (${error.message})`)
  }
  const resolvConf = platform === 'linux' ? await rootFs.followLinks(RESOLV_CONF) : {links: [], target: RESOLV_CONF}
  const writable = def.writes?.(state.domain, {path: RESOLV_CONF, links: resolvConf.links}) ?? []
  for (const entry of state.files) {
    if (!writable.includes(entry.path)) {
      throw forged(path, `names ${entry.path}, which ${state.mechanism} never writes (it writes ${writable.join(', ') || 'no file'})`)
    }
    if (entry.action === 'edited' && entry.backup !== backupPath(platform, entry.path)) {
      throw forged(path, `names ${entry.backup} as the backup of ${entry.path}; dns-setup keeps it at ${backupPath(platform, entry.path)}`)
    }
  }
  for (const dir of state.dirsCreated) {
    if (!writable.some((file) => isUnder(file, dir))) throw forged(path, `names the directory ${dir}, which holds no file ${state.mechanism} writes`)
  }
  for (const dir of state.stateDirsCreated) {
    if (!isUnder(statePath(platform), dir) && !isUnder(dir, stateDir(platform))) {
      throw forged(path, `names the directory ${dir}, which is not highway's state directory ${stateDir(platform)}`)
    }
  }
}

export async function saveState(rootFs: RootFs, state: DnsSetupState): Promise<void> {
  const path = statePath(state.platform)
  const created = await rootFs.ensureDirs(await rootFs.missingDirs(path))
  const record = {...state, stateDirsCreated: [...state.stateDirsCreated, ...created.filter((dir) => !state.stateDirsCreated.includes(dir))]}
  await rootFs.write(path, `${JSON.stringify(record, null, 2)}\n`)
}

/** Removes the record, the backups it names and highway's state directories once they are empty. */
export async function removeState(rootFs: RootFs, state: DnsSetupState): Promise<void> {
  for (const entry of state.files) if (entry.action === 'edited') await rootFs.remove(entry.backup)
  await rootFs.remove(statePath(state.platform))
  await removeEmptyTree(rootFs, posix.join(stateDir(state.platform), 'backup'))
  await rootFs.removeDirIfEmpty(stateDir(state.platform))
  for (const dir of [...state.stateDirsCreated].reverse()) await rootFs.removeDirIfEmpty(dir)
}

async function removeEmptyTree(rootFs: RootFs, dir: string): Promise<void> {
  for (const name of await rootFs.list(dir)) {
    const child = posix.join(dir, name)
    if ((await rootFs.kind(child)) === 'dir') await removeEmptyTree(rootFs, child)
  }
  await rootFs.removeDirIfEmpty(dir)
}
