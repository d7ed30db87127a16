/**
 * The thin command: flags to options, settings for the defaults, a scratch --root never running
 * commands against the real machine, one line (never a stack trace) for a user's mistake.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {afterAll, afterEach, beforeAll, describe, expect, it, vi} from 'vitest'
import DnsSetup from '../../../src/commands/dns-setup.js'
import type {ApplyResult, UndoResult} from '../../../src/resolvers/index.js'
import {makeRoot, read, removeRoot, snapshot} from './helpers.js'

const PROJECT = resolve(import.meta.dirname, '..', '..', '..')
const roots: string[] = []
let savedConfigDir: string | undefined

beforeAll(() => {
  savedConfigDir = process.env.HIGHWAY_CONFIG_DIR
  // Settings with no bridge address yet: what a machine looks like before `highway up`.
  process.env.HIGHWAY_CONFIG_DIR = mkdtempSync(join(tmpdir(), 'highway-settings-'))
})
afterAll(() => {
  rmSync(process.env.HIGHWAY_CONFIG_DIR!, {recursive: true, force: true})
  if (savedConfigDir === undefined) delete process.env.HIGHWAY_CONFIG_DIR
  else process.env.HIGHWAY_CONFIG_DIR = savedConfigDir
})
afterEach(() => {
  vi.restoreAllMocks()
  for (const root of roots.splice(0)) removeRoot(root)
})

function capture() {
  const out: string[] = []
  const err: string[] = []
  // oclif writes through console.log / console.error; highway's one-line errors go to stderr directly.
  vi.spyOn(console, 'log').mockImplementation((line) => void out.push(`${line}\n`))
  vi.spyOn(console, 'error').mockImplementation((line) => void err.push(`${line}\n`))
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    err.push(String(chunk))
    return true
  })
  return {out, err}
}

describe('highway dns-setup', () => {
  it('applies and undoes in a scratch root, printing one fact a line', async () => {
    const root = makeRoot({fixture: 'plain'})
    roots.push(root)
    const before = snapshot(root)
    const io = capture()
    const applied = (await DnsSetup.run(['--root', root, '--dns-ip', '172.17.0.1'], PROJECT)) as ApplyResult
    expect(applied.changed).toBe(true)
    const text = io.out.join('')
    expect(text).toMatch(/^detected: plain \/etc\/resolv\.conf that no tool manages/)
    expect(text).toContain('edited /etc/resolv.conf (replaced atomically)')
    expect(text).toContain(`verify: skipped: --root ${root} is a scratch directory`)
    expect(read(root, '/etc/resolv.conf')).toContain('nameserver 172.17.0.1 # added by highway dns-setup')
    const undone = (await DnsSetup.run(['--root', root, '--undo'], PROJECT)) as UndoResult
    expect(undone.changed).toBe(true)
    expect(snapshot(root)).toEqual(before)
  })

  it('with a scratch root, commands are printed and never run', async () => {
    const root = makeRoot({fixture: 'resolvconf', links: {'/etc/resolv.conf': '../run/resolvconf/resolv.conf'}})
    roots.push(root)
    const io = capture()
    await DnsSetup.run(['--root', root, '--dns-ip', '172.17.0.1', '--no-verify'], PROJECT)
    expect(io.out.join('')).toContain('not run (--root is a scratch directory): resolvconf -a lo.highway <<< "nameserver 172.17.0.1\\n"')
    expect(io.out.join('')).toContain('verify: skipped (--no-verify)')
  })

  it('--json prints the result as JSON only', async () => {
    const root = makeRoot({fixture: 'plain'})
    roots.push(root)
    const io = capture()
    await DnsSetup.run(['--root', root, '--dns-ip', '172.17.0.1', '--dry-run', '--json'], PROJECT)
    const json = JSON.parse(io.out.join(''))
    expect(json).toMatchObject({action: 'apply', dryRun: true, changed: false, detection: {mechanism: 'plain'}})
  })

  it('before `highway up` (no bridge address known): one line saying so', async () => {
    const root = makeRoot({fixture: 'plain'})
    roots.push(root)
    const io = capture()
    await expect(DnsSetup.run(['--root', root], PROJECT)).rejects.toMatchObject({oclif: {exit: 1}})
    expect(io.err.join('')).toBe('highway: highway does not know its DNS address yet: run `highway up` first\n  or pass --dns-ip <address>\n')
  })
})
