/**
 * Everything that must end in one clear line (a UserError), never a stack trace, and change nothing:
 * a corrupt or foreign record, no root, a read-only, missing or odd /etc/resolv.conf, a command that
 * fails halfway (what was done is recorded and undoable), setups highway does not change by itself.
 */
import * as fsp from 'node:fs/promises'
import {join} from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import type {FsLike} from '../../../src/resolvers/root-fs.js'
import {isPrivileged} from '../../../src/resolvers/privileges.js'
import {applyDnsSetup, undoDnsSetup} from '../../../src/resolvers/setup.js'
import {FakeSystem, contextFor, exists, makeRoot, read, removeRoot, snapshot, write, type Layout} from './helpers.js'
import {rejectedUserError} from '../support/user-error.js'

const IP = '172.17.0.1'
const STATE = '/var/lib/highway/dns-setup.json'
const roots: string[] = []

function setup(layout: Layout = {fixture: 'plain'}) {
  const root = makeRoot(layout)
  roots.push(root)
  const fake = new FakeSystem({root})
  return {root, fake}
}

afterEach(() => {
  for (const root of roots.splice(0)) removeRoot(root)
})

/** An fs that fails `code` for every access to `path` (real path) that would write. */
function faultyFs(realPath: string, code: string, operations: (keyof FsLike)[]): FsLike {
  const fail = (name: keyof FsLike) =>
    (async (...args: unknown[]) => {
      const target = String(args[0])
      if (target === realPath || (name === 'open' && target.startsWith(join(realPath, '..', '.resolv.conf.highway')))) {
        throw Object.assign(new Error(`${code}: injected, ${name} '${target}'`), {code})
      }
      return (fsp[name] as (...a: unknown[]) => unknown)(...args)
    }) as never
  const fs: Record<string, unknown> = {...fsp}
  for (const name of operations) fs[name] = fail(name)
  return fs as unknown as FsLike
}

describe('the record of what dns-setup did', () => {
  it('corrupt: says so and what to do, for apply and undo', async () => {
    const {root, fake} = setup()
    write(root, STATE, '{"schema": 1, "mechanism": "pla')
    const before = snapshot(root)
    for (const action of [() => applyDnsSetup(contextFor(root, fake), {domain: 'local', dnsIp: IP}), () => undoDnsSetup(contextFor(root, fake))]) {
      const error = await rejectedUserError(action)
      expect(error.message).toMatch(/^the dns-setup record \/var\/lib\/highway\/dns-setup\.json is unreadable: it is not valid JSON/)
      expect(error.suggestion).toContain('sudo rm /var/lib/highway/dns-setup.json')
    }
    expect(snapshot(root)).toEqual(before)
  })

  it('from another version of highway: names both schemas', async () => {
    const {root, fake} = setup()
    write(root, STATE, JSON.stringify({schema: 2, mechanism: 'plain'}))
    const error = await rejectedUserError(() => undoDnsSetup(contextFor(root, fake)))
    expect(error.message).toBe(
      'the dns-setup record /var/lib/highway/dns-setup.json was written by another version of highway (schema 2; this one reads schema 1)',
    )
    expect(error.suggestion).toMatch(/undo with the highway that wrote it/)
  })

  it('valid JSON with a field missing or of the wrong type', async () => {
    const {root, fake} = setup()
    await applyDnsSetup(contextFor(root, fake), {domain: 'local', dnsIp: IP})
    const state = JSON.parse(read(root, STATE))
    state.files[0].original = 42
    write(root, STATE, JSON.stringify(state))
    const error = await rejectedUserError(() => undoDnsSetup(contextFor(root, fake)))
    expect(error.message).toContain('a field is missing or has the wrong type')
  })

  it('made for another domain or address: undo first', async () => {
    const {root, fake} = setup()
    await applyDnsSetup(contextFor(root, fake), {domain: 'local', dnsIp: IP})
    const error = await rejectedUserError(() => applyDnsSetup(contextFor(root, fake), {domain: 'test', dnsIp: IP}))
    expect(error.message).toBe(
      'dns-setup is already in place for .local -> 172.17.0.1 (recorded in /var/lib/highway/dns-setup.json), not for .test -> 172.17.0.1',
    )
    expect(error.suggestion).toContain('sudo highway dns-setup --undo')
  })

  it('made for another mechanism than the machine has now', async () => {
    const {root, fake} = setup()
    await applyDnsSetup(contextFor(root, fake), {domain: 'local', dnsIp: IP})
    // The machine moved to systemd-resolved since.
    await fsp.mkdir(join(root, 'run/systemd/resolve'), {recursive: true})
    write(root, '/etc/resolv.conf', 'nameserver 127.0.0.53\noptions edns0 trust-ad\n')
    const error = await rejectedUserError(() => applyDnsSetup(contextFor(root, fake), {domain: 'local', dnsIp: IP}))
    expect(error.message).toMatch(/^dns-setup was done for plain \(.*\), but this machine now uses systemd-resolved/)
  })

  it('nothing recorded: undo says there is nothing to undo', async () => {
    const {root, fake} = setup()
    const result = await undoDnsSetup(contextFor(root, fake))
    expect(result.nothingRecorded).toBe(true)
    expect(fake.changes).toEqual([])
  })
})

describe('privileges', () => {
  it('not root, and the scratch root is not writable: one line saying to rerun with sudo, nothing changed', async () => {
    const {root, fake} = setup()
    const before = snapshot(root)
    // Tests run as root here, so access() would always succeed: the fs layer refuses it instead.
    const fs = faultyFs(root, 'EACCES', ['access'])
    const ctx = contextFor(root, fake, 'linux', {getuid: () => 1000, fs})
    const error = await rejectedUserError(() => applyDnsSetup(ctx, {domain: 'local', dnsIp: IP}))
    expect(error.message).toBe('dns-setup changes how this machine resolves names and needs root: rerun with sudo (sudo highway dns-setup)')
    expect(snapshot(root)).toEqual(before)
  })

  it('not root: a dry run still works', async () => {
    const {root, fake} = setup()
    const fs = faultyFs(root, 'EACCES', ['access'])
    const result = await applyDnsSetup(contextFor(root, fake, 'linux', {getuid: () => 1000, fs}), {domain: 'local', dnsIp: IP, dryRun: true})
    expect(result.plan.files).toHaveLength(1)
  })

  it('not root: undo refuses too', async () => {
    const {root, fake} = setup()
    await applyDnsSetup(contextFor(root, fake), {domain: 'local', dnsIp: IP})
    const fs = faultyFs(root, 'EACCES', ['access'])
    const error = await rejectedUserError(() => undoDnsSetup(contextFor(root, fake, 'linux', {getuid: () => 1000, fs})))
    expect(error.message).toContain('rerun with sudo (sudo highway dns-setup --undo)')
    expect(read(root, '/etc/resolv.conf')).toContain('# added by highway dns-setup')
  })

  it('on the real root only uid 0 counts (the check reads nothing)', async () => {
    const runner = new FakeSystem({root: '/nonexistent'})
    expect(await isPrivileged({root: '/', platform: 'linux', env: {}, runner, getuid: () => 1000})).toBe(false)
    expect(await isPrivileged({root: '/', platform: 'linux', env: {}, runner, getuid: () => 0})).toBe(true)
    // Windows asks whether the shell is elevated.
    expect(await isPrivileged({root: '/', platform: 'win32', env: {}, runner})).toBe(true)
    expect(runner.calls.at(-1)).toMatch(/^PS> .*IsInRole/)
  })

  it('not root but a scratch root it can write: allowed', async () => {
    const {root, fake} = setup()
    const result = await applyDnsSetup(contextFor(root, fake, 'linux', {getuid: () => 1000}), {domain: 'local', dnsIp: IP})
    expect(result.changed).toBe(true)
  })
})

describe('/etc/resolv.conf', () => {
  it('read-only file system: a clear error before anything is written', async () => {
    // chmod 444 does not stop root (these tests run as root), and a read-only bind mount needs
    // privileges the unit tests should not use: the fs layer answers EROFS for the file instead,
    // exactly as the kernel does for a read-only mount.
    const {root, fake} = setup()
    const before = snapshot(root)
    const fs = faultyFs(join(root, 'etc/resolv.conf'), 'EROFS', ['access', 'open', 'writeFile', 'rename'])
    const error = await rejectedUserError(() => applyDnsSetup(contextFor(root, fake, 'linux', {fs}), {domain: 'local', dnsIp: IP}))
    expect(error.message).toBe('cannot write /etc/resolv.conf: it is on a read-only file system')
    expect(error.suggestion).toMatch(/remount it read-write/)
    expect(snapshot(root)).toEqual(before)
  })

  it('immutable (chattr +i): EPERM is named as such', async () => {
    const {root, fake} = setup()
    const fs = faultyFs(join(root, 'etc/resolv.conf'), 'EPERM', ['access'])
    const error = await rejectedUserError(() => applyDnsSetup(contextFor(root, fake, 'linux', {fs}), {domain: 'local', dnsIp: IP}))
    expect(error.message).toBe('cannot write /etc/resolv.conf: operation not permitted (is the file immutable? see `lsattr`)')
  })

  it('missing', async () => {
    const {root, fake} = setup({files: {'/etc/nsswitch.conf': 'hosts: files dns\n'}})
    const error = await rejectedUserError(() => applyDnsSetup(contextFor(root, fake), {domain: 'local', dnsIp: IP}))
    expect(error.message).toBe("/etc/resolv.conf does not exist: this machine has no resolver configuration to add highway's DNS to")
    expect(exists(root, '/var/lib/highway')).toBe(false)
  })

  it('a directory in its place', async () => {
    const {root, fake} = setup({dirs: ['/etc/resolv.conf']})
    const error = await rejectedUserError(() => applyDnsSetup(contextFor(root, fake), {domain: 'local', dnsIp: IP, dryRun: true}))
    expect(error.message).toBe('/etc/resolv.conf is not a regular file (it is a directory)')
  })

  it("a symlink to resolved's stub while systemd-resolved is not running", async () => {
    const {root, fake} = setup({links: {'/etc/resolv.conf': '../run/systemd/resolve/stub-resolv.conf'}})
    const error = await rejectedUserError(() => applyDnsSetup(contextFor(root, fake), {domain: 'local', dnsIp: IP}))
    expect(error.message).toBe('/etc/resolv.conf points at /run/systemd/resolve/stub-resolv.conf, which does not exist: systemd-resolved is not running')
    expect(error.suggestion).toContain('systemctl enable --now systemd-resolved')
  })

  it('a loop of symlinks', async () => {
    const {root, fake} = setup({links: {'/etc/resolv.conf': 'resolv.conf.a', '/etc/resolv.conf.a': 'resolv.conf'}})
    const error = await rejectedUserError(() => applyDnsSetup(contextFor(root, fake), {domain: 'local', dnsIp: IP}))
    expect(error.message).toMatch(/is a loop of symlinks/)
  })
})

describe('setups highway does not change by itself', () => {
  it('NetworkManager writing /etc/resolv.conf itself (dns=default): says what to do by hand', async () => {
    const {root, fake} = setup({fixture: 'networkmanager-default', dirs: ['/run/NetworkManager']})
    const error = await rejectedUserError(() => applyDnsSetup(contextFor(root, fake), {domain: 'local', dnsIp: IP, dryRun: true}))
    expect(error.message).toBe("found NetworkManager writes /etc/resolv.conf itself (dns=default): highway does not switch NetworkManager's DNS mode for you")
    expect(error.suggestion).toContain('dns=systemd-resolved (or dns=dnsmasq)')
    expect(error.suggestion).toContain('nmcli connection modify <connection> ipv4.dns 172.17.0.1 ipv4.dns-priority -1')
  })

  it("WSL's shared /mnt/wsl/resolv.conf", async () => {
    const {root, fake} = setup({
      fixture: 'wsl',
      files: {'/mnt/wsl/resolv.conf': '# This file was automatically generated by WSL.\nnameserver 10.255.255.254\n'},
    })
    await fsp.rm(join(root, 'etc/resolv.conf'))
    await fsp.symlink('/mnt/wsl/resolv.conf', join(root, 'etc/resolv.conf'))
    const error = await rejectedUserError(() => applyDnsSetup(contextFor(root, fake), {domain: 'local', dnsIp: IP}))
    expect(error.message).toMatch(/^found WSL2: \/etc\/resolv\.conf -> \/mnt\/wsl\/resolv\.conf, which WSL generates and shares with every WSL distribution/)
    expect(error.suggestion).toContain('generateResolvConf = false')
  })

  it('systemd-resolved but the link for the address does not exist', async () => {
    const {root} = setup({fixture: 'systemd-resolved', links: {'/etc/resolv.conf': '../run/systemd/resolve/stub-resolv.conf'}})
    const fake = new FakeSystem({root, ipAddr: ''})
    fake.links.delete('docker0')
    const error = await rejectedUserError(() => applyDnsSetup(contextFor(root, fake), {domain: 'local', dnsIp: IP}))
    expect(error.message).toBe('network link docker0 does not exist, so systemd-resolved cannot send .local to 172.17.0.1 through it')
    expect(error.suggestion).toContain('highway up')
  })

  it('bad domain or address', async () => {
    const {root, fake} = setup()
    expect((await rejectedUserError(() => applyDnsSetup(contextFor(root, fake), {domain: 'Bad_Domain', dnsIp: IP}))).message).toMatch(/^invalid domain/)
    expect((await rejectedUserError(() => applyDnsSetup(contextFor(root, fake), {domain: 'local', dnsIp: '0.0.0.0'}))).message).toMatch(/cannot be 0\.0\.0\.0/)
  })
})

describe('a command that fails halfway', () => {
  it('stops, says which command, records what was done, and undo reverses it', async () => {
    const {root} = setup({fixture: 'systemd-resolved', links: {'/etc/resolv.conf': '../run/systemd/resolve/stub-resolv.conf'}})
    const fake = new FakeSystem({
      root,
      fault: (cmd, args) =>
        cmd === 'resolvectl' && args[0] === 'domain' && args.length > 2
          ? {code: 1, stdout: '', stderr: 'Failed to set domain configuration: Access denied\n'}
          : undefined,
    })
    const error = await rejectedUserError(() => applyDnsSetup(contextFor(root, fake), {domain: 'local', dnsIp: IP}))
    expect(error.message).toBe("`resolvectl domain docker0 '~local'` failed (exit 1): Failed to set domain configuration: Access denied")
    expect(fake.changes).toEqual(['resolvectl dns docker0 172.17.0.1'])
    const state = JSON.parse(read(root, STATE))
    expect(state.commands).toEqual([{cmd: 'resolvectl', args: ['dns', 'docker0', IP]}])
    fake.changes = []
    await undoDnsSetup(contextFor(root, fake))
    expect(fake.changes).toEqual(['resolvectl revert docker0'])
    expect(fake.links.get('docker0')).toMatchObject({dns: [], domains: []})
  })

  it('a program that is not installed is named', async () => {
    const {root} = setup({fixture: 'resolvconf', links: {'/etc/resolv.conf': '../run/resolvconf/resolv.conf'}})
    const fake = new FakeSystem({
      root,
      fault: (cmd) => (cmd === 'resolvconf' ? {code: 127, stdout: '', stderr: 'resolvconf: spawn resolvconf ENOENT'} : undefined),
    })
    const error = await rejectedUserError(() => applyDnsSetup(contextFor(root, fake), {domain: 'local', dnsIp: IP}))
    expect(error.message).toBe('`resolvconf -a lo.highway` failed (exit 127) (resolvconf is not installed or not on PATH): resolvconf: spawn resolvconf ENOENT')
  })

  it('undo carries on past a failing command and says what to run by hand', async () => {
    const {root} = setup({fixture: 'systemd-resolved', links: {'/etc/resolv.conf': '../run/systemd/resolve/stub-resolv.conf'}})
    let failRevert = false
    const fake = new FakeSystem({
      root,
      fault: (cmd, args) => (failRevert && cmd === 'resolvectl' && args[0] === 'revert' ? {code: 1, stdout: '', stderr: 'Access denied'} : undefined),
    })
    await applyDnsSetup(contextFor(root, fake), {domain: 'local', dnsIp: IP})
    failRevert = true
    const result = await undoDnsSetup(contextFor(root, fake))
    expect(result.warnings).toEqual(['`resolvectl revert docker0` failed (exit 1: Access denied): run it by hand if the setting is still there'])
    expect(exists(root, STATE)).toBe(false)
  })
})
