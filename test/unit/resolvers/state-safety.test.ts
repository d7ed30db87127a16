/**
 * What a neighbour could plant or forge around dns-setup's record: a state directory or record not
 * root-owned, writable by others or a symlink (ownership by another user is real: the tests run as
 * root and chown to a numeric uid inside the scratch root), a record naming files or backups its
 * mechanism never writes, and on Windows the programs highway runs and the state folder's ACL.
 */
import {chmodSync, chownSync, symlinkSync} from 'node:fs'
import {join} from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {isAdministrator, nrptList, restrictToAdministrators, systemRoot} from '../../../src/resolvers/commands.js'
import {isPrivileged} from '../../../src/resolvers/privileges.js'
import {applyDnsSetup, undoDnsSetup} from '../../../src/resolvers/setup.js'
import type {CommandResult} from '../../../src/resolvers/types.js'
import {FakeSystem, contextFor, exists, makeRoot, read, removeRoot, snapshot, write, type Layout} from './helpers.js'
import {rejectedUserError} from '../support/user-error.js'

const IP = '172.17.0.1'
const SHADOW = 'root:$y$j9T$secret:19000:0:99999:7:::\n'
const STATE = '/var/lib/highway/dns-setup.json'
const roots: string[] = []

afterEach(() => {
  for (const root of roots.splice(0)) removeRoot(root)
})

function machine(layout: Layout = {fixture: 'plain'}) {
  const root = makeRoot({...layout, files: {'/etc/shadow': SHADOW, ...layout.files}})
  roots.push(root)
  return {root, fake: new FakeSystem({root})}
}

const apply = (root: string, fake: FakeSystem) => applyDnsSetup(contextFor(root, fake), {domain: 'local', dnsIp: IP, verify: false})
const undo = (root: string, fake: FakeSystem) => undoDnsSetup(contextFor(root, fake))

describe('the state directory', () => {
  it('owned by another user (a real chown to uid 12345): apply and undo refuse, naming it, its owner and mode, and the fix', async () => {
    const {root, fake} = machine()
    await apply(root, fake)
    const dir = join(root, 'var/lib/highway')
    chownSync(dir, 12345, 12345)
    const before = snapshot(root)
    for (const action of [() => apply(root, fake), () => undo(root, fake)]) {
      const error = await rejectedUserError(action)
      expect(error.message).toBe(
        `highway's state directory ${dir} is owned by uid 12345 with mode 0755: only root may own or write it, or someone else could rewrite what dns-setup and --undo do`,
      )
      expect(error.suggestion).toContain(`sudo chown 0:0 ${dir} && sudo chmod 755 ${dir}`)
      expect(error.suggestion).toContain(`sudo rm -r ${dir}`)
    }
    expect(snapshot(root)).toEqual(before)
  })

  it.each([0o775, 0o757, 0o777])('root-owned but mode %o (writable by group or others): refused before anything changes', async (mode) => {
    const {root, fake} = machine({fixture: 'plain', dirs: ['/var/lib/highway']})
    chmodSync(join(root, 'var/lib/highway'), mode)
    const before = snapshot(root)
    const error = await rejectedUserError(() => apply(root, fake))
    expect(error.message).toContain(`is owned by uid 0 with mode 0${mode.toString(8)}`)
    expect(snapshot(root)).toEqual(before)
    expect(fake.changes).toEqual([])
  })

  it('the record itself owned by another user, or writable by others: refused', async () => {
    const {root, fake} = machine()
    await apply(root, fake)
    const record = join(root, STATE)
    chownSync(record, 12345, 0)
    expect((await rejectedUserError(() => undo(root, fake))).message).toContain(`the dns-setup record ${record} is owned by uid 12345 with mode 0644`)
    chownSync(record, 0, 0)
    chmodSync(record, 0o646)
    expect((await rejectedUserError(() => undo(root, fake))).message).toContain(`the dns-setup record ${record} is owned by uid 0 with mode 0646`)
    chmodSync(record, 0o644)
    await undo(root, fake)
    expect(exists(root, STATE)).toBe(false)
  })

  it('a symlinked state directory is never followed: nothing is written where it leads', async () => {
    const {root, fake} = machine({fixture: 'plain', dirs: ['/home/mallory/state', '/var/lib']})
    symlinkSync(join(root, 'home/mallory/state'), join(root, 'var/lib/highway'))
    const resolvConf = read(root, '/etc/resolv.conf')
    const error = await rejectedUserError(() => apply(root, fake))
    expect(error.message).toBe(
      `highway's state directory ${join(root, 'var/lib/highway')} is a symlink (to ${join(root, 'home/mallory/state')}); highway does not follow a link it did not make`,
    )
    expect(error.suggestion).toContain(`sudo rm ${join(root, 'var/lib/highway')}`)
    expect(snapshot(root)['/home/mallory/state']).toBe('dir 755')
    expect(Object.keys(snapshot(root)).filter((key) => key.startsWith('/home/mallory/state/'))).toEqual([])
    expect(read(root, '/etc/resolv.conf')).toBe(resolvConf)
  })

  it('a planted symlink as the record (to /etc/shadow): apply and undo refuse, /etc/shadow untouched', async () => {
    const {root, fake} = machine({fixture: 'plain', dirs: ['/var/lib/highway']})
    // Relative, so it leads to the scratch root's /etc/shadow, never this machine's.
    symlinkSync('../../../etc/shadow', join(root, STATE))
    for (const action of [() => apply(root, fake), () => undo(root, fake)]) {
      expect((await rejectedUserError(action)).message).toBe(
        `the dns-setup record ${join(root, STATE)} is a symlink (to ../../../etc/shadow); highway does not follow a link it did not make`,
      )
    }
    expect(read(root, '/etc/shadow')).toBe(SHADOW)
  })

  it('a symlinked backup directory: refused', async () => {
    const {root, fake} = machine({fixture: 'plain', dirs: ['/var/lib/highway', '/tmp/elsewhere']})
    symlinkSync('/tmp/elsewhere', join(root, 'var/lib/highway/backup'))
    expect((await rejectedUserError(() => apply(root, fake))).message).toContain(
      `highway's backup directory ${join(root, 'var/lib/highway/backup')} is a symlink`,
    )
  })

  it('on Windows modes say nothing (the ACL protects the folder): a 0777 folder is used, a symlinked one is not', async () => {
    const {root, fake} = machine({dirs: ['/ProgramData/highway']})
    chmodSync(join(root, 'ProgramData/highway'), 0o777)
    const ctx = contextFor(root, fake, 'win32')
    expect((await applyDnsSetup(ctx, {domain: 'local', dnsIp: IP, verify: false})).changed).toBe(true)
    await undoDnsSetup(ctx)
    const other = machine({dirs: ['/ProgramData', '/Users/mallory']})
    symlinkSync(join(other.root, 'Users/mallory'), join(other.root, 'ProgramData/highway'))
    const error = await rejectedUserError(() => applyDnsSetup(contextFor(other.root, other.fake, 'win32'), {domain: 'local', dnsIp: IP, verify: false}))
    expect(error.message).toContain('is a symlink')
    expect(other.fake.changes).toEqual([])
  })
})

/** The record as JSON, loosely typed: a forger writes whatever it likes. */
interface Forged {
  mechanism: string
  domain: string
  files: Record<string, string>[]
  dirsCreated: string[]
  stateDirsCreated: string[]
}

describe('--undo only touches what its mechanism writes', () => {
  /** A real apply, then the record rewritten as a neighbour with write access to it would. */
  async function forge(layout: Layout, platform: 'linux' | 'darwin', edit: (state: Forged) => void) {
    const {root, fake} = machine(layout)
    const ctx = contextFor(root, fake, platform)
    await applyDnsSetup(ctx, {domain: 'local', dnsIp: platform === 'darwin' ? '127.0.0.1' : IP, verify: false})
    const path = platform === 'darwin' ? '/var/db/highway/dns-setup.json' : STATE
    const state = JSON.parse(read(root, path))
    edit(state)
    write(root, path, JSON.stringify(state))
    const before = snapshot(root)
    const error = await rejectedUserError(() => undoDnsSetup(ctx))
    expect(snapshot(root)).toEqual(before)
    expect(read(root, '/etc/shadow')).toBe(SHADOW)
    return {error, root}
  }

  it('an edited file outside the mechanism (plain: only /etc/resolv.conf and where it leads): refused', async () => {
    const {error, root} = await forge({fixture: 'plain'}, 'linux', (state) => {
      state.files.push({
        path: '/etc/shadow',
        action: 'edited',
        original: 'root::0:0:99999:7:::\n',
        originalSha256: 'x',
        writtenSha256: 'y',
        backup: '/var/lib/highway/backup/etc/shadow',
      })
    })
    expect(error.message).toBe(
      `the dns-setup record ${join(root, STATE)} names /etc/shadow, which plain never writes (it writes /etc/resolv.conf): refusing to undo from it`,
    )
    expect(error.suggestion).toContain(`sudo rm ${join(root, STATE)}`)
  })

  it('a created file outside the mechanism (macOS: only /etc/resolver/<domain>): refused, the file is not deleted', async () => {
    const {error} = await forge({fixture: 'macos'}, 'darwin', (state) => {
      state.files.push({path: '/etc/shadow', action: 'created', writtenSha256: 'x'})
    })
    expect(error.message).toContain('names /etc/shadow, which macos-resolver never writes (it writes /etc/resolver/local)')
  })

  it('a domain that walks out of /etc/resolver: refused', async () => {
    const {error} = await forge({fixture: 'macos'}, 'darwin', (state) => {
      state.domain = '../shadow'
      state.files[0].path = '/etc/resolver/../shadow'
    })
    expect(error.message).toContain('has an invalid domain or address')
  })

  it('a backup outside the state directory (undo would delete it): refused', async () => {
    const {error} = await forge({fixture: 'plain'}, 'linux', (state) => {
      state.files[0].backup = '/etc/shadow'
    })
    expect(error.message).toContain(
      'names /etc/shadow as the backup of /etc/resolv.conf; dns-setup keeps it at /var/lib/highway/backup/etc/resolv.conf: refusing to undo from it',
    )
  })

  it('a created directory or state directory elsewhere: refused', async () => {
    const dirs = await forge({fixture: 'plain'}, 'linux', (state) => state.dirsCreated.push('/usr/share'))
    expect(dirs.error.message).toContain('names the directory /usr/share, which holds no file plain writes')
    const stateDirs = await forge({fixture: 'plain'}, 'linux', (state) => state.stateDirsCreated.push('/etc/ssh'))
    expect(stateDirs.error.message).toContain("names the directory /etc/ssh, which is not highway's state directory /var/lib/highway")
  })

  it("a record for another platform's mechanism: refused", async () => {
    const {error} = await forge({fixture: 'plain'}, 'linux', (state) => {
      state.mechanism = 'macos-resolver'
    })
    expect(error.message).toContain('is for macos-resolver on linux, not for this linux machine')
  })

  it('plain: /etc/resolv.conf reached through a symlink is still undone', async () => {
    const {root, fake} = machine({
      files: {'/etc/resolv.conf.static': 'nameserver 10.0.0.2\n', '/etc/nsswitch.conf': 'hosts: files dns\n'},
      links: {'/etc/resolv.conf': 'resolv.conf.static'},
    })
    const before = snapshot(root)
    await apply(root, fake)
    expect(read(root, '/etc/resolv.conf.static')).not.toBe('nameserver 10.0.0.2\n')
    await undo(root, fake)
    expect(snapshot(root)).toEqual(before)
  })
})

describe('Windows: programs by their system path, an administrators-only state folder', () => {
  it('PowerShell and icacls come from SystemRoot of the context, never from PATH', () => {
    expect(systemRoot({})).toBe('C:\\Windows')
    expect(systemRoot({PATH: 'C:\\Users\\mallory\\bin'})).toBe('C:\\Windows')
    expect(systemRoot({SystemRoot: 'D:\\WINNT\\'})).toBe('D:\\WINNT')
    // Not a drive path: ignored rather than run from wherever it points.
    expect(systemRoot({SystemRoot: 'powershell'})).toBe('C:\\Windows')
    expect(nrptList('D:\\WINNT').cmd).toBe('D:\\WINNT\\System32\\WindowsPowerShell\\v1.0\\powershell.exe')
    expect(restrictToAdministrators('C:\\Windows', 'C:\\ProgramData\\highway')).toMatchObject({
      cmd: 'C:\\Windows\\System32\\icacls.exe',
      args: ['C:\\ProgramData\\highway', '/inheritance:r', '/grant:r', '*S-1-5-32-544:(OI)(CI)F', '*S-1-5-18:(OI)(CI)F'],
    })
  })

  it("the elevation check runs the context's SystemRoot PowerShell", async () => {
    const calls: string[] = []
    const runner = {
      run: async (cmd: string): Promise<CommandResult> => {
        calls.push(cmd)
        return {code: 0, stdout: 'True\r\n', stderr: ''}
      },
    }
    expect(await isPrivileged({root: '/', platform: 'win32', env: {SystemRoot: 'E:\\Windows', PATH: 'C:\\evil'}, runner})).toBe(true)
    expect(calls).toEqual([isAdministrator('E:\\Windows').cmd])
    expect(calls[0]).toBe('E:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe')
  })

  it('the folder is restricted before the record is written; if that fails, nothing is changed or left behind', async () => {
    const {root} = machine({})
    const fake = new FakeSystem({
      root,
      fault: (cmd) => (cmd.endsWith('icacls.exe') ? {code: 5, stdout: '', stderr: 'Access is denied.'} : undefined),
    })
    const before = snapshot(root)
    const error = await rejectedUserError(() => applyDnsSetup(contextFor(root, fake, 'win32'), {domain: 'local', dnsIp: IP, verify: false}))
    expect(error.message).toContain(`cannot restrict highway's state folder ${join(root, 'ProgramData/highway')} to administrators`)
    expect(error.message).toContain('(exit 5: Access is denied.)')
    expect(fake.nrpt).toEqual([])
    expect(snapshot(root)).toEqual(before)
  })

  it('the state folder exists when icacls runs, and the command is recorded', async () => {
    const {root} = machine({})
    let existed = false
    const fake = new FakeSystem({
      root,
      fault: (cmd) => {
        if (cmd.endsWith('icacls.exe')) existed = exists(root, '/ProgramData/highway') && !exists(root, '/ProgramData/highway/dns-setup.json')
        return undefined
      },
    })
    await applyDnsSetup(contextFor(root, fake, 'win32'), {domain: 'local', dnsIp: IP, verify: false})
    expect(existed).toBe(true)
    const state = JSON.parse(read(root, '/ProgramData/highway/dns-setup.json'))
    expect(state.commands[0].cmd).toBe('C:\\Windows\\System32\\icacls.exe')
  })
})
