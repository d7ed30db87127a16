/**
 * The record of what dns-setup did, so `--undo` reverses exactly that: the mechanism, each file it
 * created or edited (an edited file with its original content and the checksum of what highway
 * wrote), the runtime settings it put in place and the commands it ran. One JSON file per machine.
 */
import {createHash} from 'node:crypto'
import {posix} from 'node:path'
import {UserError} from '../core/errors.js'
import {MECHANISMS} from './mechanisms/index.js'
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

function stateDir(platform: Platform): string {
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

/** The record, or null when there is none. A corrupt or foreign record is a UserError, never a crash. */
export async function loadState(rootFs: RootFs, platform: Platform): Promise<DnsSetupState | null> {
  const path = statePath(platform)
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
