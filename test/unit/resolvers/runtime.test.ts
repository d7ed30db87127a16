/**
 * checkRuntimeSetup, what `highway up` calls: runtime-only settings (resolved's per-link DNS, the
 * resolvconf record, WSL's regenerated file) lost since dns-setup are put back when allowed, or
 * named in one line; a changed domain or mechanism is reported, never "fixed" behind the user's back.
 */
import * as fsp from 'node:fs/promises'
import {afterEach, describe, expect, it} from 'vitest'
import type {FsLike} from '../../../src/resolvers/root-fs.js'
import {checkRuntimeSetup} from '../../../src/resolvers/runtime.js'
import {applyDnsSetup} from '../../../src/resolvers/setup.js'
import {FakeSystem, contextFor, fixture, makeRoot, read, removeRoot, write, type Layout} from './helpers.js'

const IP = '172.17.0.1'
const settings = {domain: 'local', bridgeIp: IP}
const roots: string[] = []
afterEach(() => {
  for (const root of roots.splice(0)) removeRoot(root)
})

async function applied(layout: Layout, options: {resolvconfDir?: 'interface' | 'interfaces'} = {}) {
  const root = makeRoot(layout)
  roots.push(root)
  const fake = new FakeSystem({root, ...options})
  await applyDnsSetup(contextFor(root, fake), {domain: 'local', dnsIp: IP})
  fake.changes = []
  return {root, fake}
}

const resolved: Layout = {fixture: 'systemd-resolved', links: {'/etc/resolv.conf': '../run/systemd/resolve/stub-resolv.conf'}}
const asRoot = {platform: 'linux' as const, getuid: () => 0}
/** Not root, and the scratch root not writable (the tests run as root, so the fs layer refuses). */
const notRoot = (root: string) => ({
  platform: 'linux' as const,
  getuid: () => 1000,
  fs: {
    ...fsp,
    access: async (path: unknown) => {
      if (path === root) throw Object.assign(new Error('EACCES'), {code: 'EACCES'})
    },
  } as unknown as FsLike,
})

describe('checkRuntimeSetup', () => {
  it('nothing recorded: nothing to say', async () => {
    const root = makeRoot({fixture: 'plain'})
    roots.push(root)
    expect(await checkRuntimeSetup(root, new FakeSystem({root}), settings, asRoot)).toEqual({status: 'none', message: null})
  })

  it('all in place: ok, silently, and nothing run that changes anything', async () => {
    const {root, fake} = await applied(resolved)
    expect(await checkRuntimeSetup(root, fake, settings, asRoot)).toEqual({status: 'ok', message: null})
    expect(fake.changes).toEqual([])
  })

  it('docker0 recreated (its per-link settings gone): put back when root', async () => {
    const {root, fake} = await applied(resolved)
    fake.links.set('docker0', {index: 9, dns: [], domains: []})
    const result = await checkRuntimeSetup(root, fake, settings, asRoot)
    expect(result).toEqual({
      status: 'reapplied',
      message: "put highway's DNS setting for .local back (resolvectl dns docker0 172.17.0.1; resolvectl domain docker0 '~local')",
    })
    expect(fake.changes).toEqual(['resolvectl dns docker0 172.17.0.1', "resolvectl domain docker0 '~local'"])
    // The record still undoes to the original: revert of docker0.
    expect(JSON.parse(read(root, '/var/lib/highway/dns-setup.json')).undo).toEqual([{cmd: 'resolvectl', args: ['revert', 'docker0']}])
  })

  it('docker0 recreated, not root: says what is missing and what to run', async () => {
    const {root, fake} = await applied(resolved)
    fake.links.set('docker0', {index: 9, dns: [], domains: []})
    const result = await checkRuntimeSetup(root, fake, settings, notRoot(root))
    expect(result.status).toBe('missing')
    expect(result.message).toBe(
      "highway's DNS setting for .local is no longer in place (needs: resolvectl dns docker0 172.17.0.1; resolvectl domain docker0 '~local'): run `sudo highway dns-setup` to put it back",
    )
    expect(fake.changes).toEqual([])
  })

  it('reapply: false only reports', async () => {
    const {root, fake} = await applied(resolved)
    fake.links.set('docker0', {index: 9, dns: [], domains: []})
    expect((await checkRuntimeSetup(root, fake, settings, {...asRoot, reapply: false})).status).toBe('missing')
    expect(fake.changes).toEqual([])
  })

  it('the resolvconf record under /run is gone after a reboot: put back', async () => {
    const {root, fake} = await applied({fixture: 'resolvconf', links: {'/etc/resolv.conf': '../run/resolvconf/resolv.conf'}})
    await fsp.rm(fake.recordPath('lo.highway'))
    const result = await checkRuntimeSetup(root, fake, settings, asRoot)
    expect(result.status).toBe('reapplied')
    expect(fake.changes).toEqual(['resolvconf -a lo.highway <<< "nameserver 172.17.0.1\\n"'])
  })

  it('WSL wrote /etc/resolv.conf anew: highway’s line goes back in', async () => {
    const {root, fake} = await applied({fixture: 'wsl'})
    write(root, '/etc/resolv.conf', fixture('wsl', 'root', 'etc', 'resolv.conf'))
    const result = await checkRuntimeSetup(root, fake, settings, asRoot)
    expect(result.status).toBe('reapplied')
    expect(read(root, '/etc/resolv.conf')).toContain(`nameserver ${IP} # added by highway dns-setup\nnameserver 10.255.255.254`)
    // Undo now restores what WSL wrote, byte for byte.
    const state = JSON.parse(read(root, '/var/lib/highway/dns-setup.json'))
    expect(state.files[0].original).toBe(fixture('wsl', 'root', 'etc', 'resolv.conf'))
  })

  it('a plain resolv.conf rewritten by something else is reported, not rewritten from `up`', async () => {
    const {root, fake} = await applied({fixture: 'plain'})
    write(root, '/etc/resolv.conf', 'nameserver 10.0.0.2\n')
    const result = await checkRuntimeSetup(root, fake, settings, asRoot)
    expect(result.status).toBe('missing')
    expect(result.message).toContain("/etc/resolv.conf lacks highway's entry")
    expect(read(root, '/etc/resolv.conf')).toBe('nameserver 10.0.0.2\n')
  })

  it('highway now serves another domain: says to undo and set up again', async () => {
    const {root, fake} = await applied(resolved)
    const result = await checkRuntimeSetup(root, fake, {domain: 'test', bridgeIp: IP}, asRoot)
    expect(result).toEqual({
      status: 'changed',
      message:
        'dns-setup sends .local to 172.17.0.1, but highway now serves .test on 172.17.0.1: run `sudo highway dns-setup --undo`, then `sudo highway dns-setup`',
    })
  })

  it('a corrupt record: the check fails with one line, it does not throw', async () => {
    const {root, fake} = await applied(resolved)
    write(root, '/var/lib/highway/dns-setup.json', 'not json')
    const result = await checkRuntimeSetup(root, fake, settings, asRoot)
    expect(result.status).toBe('failed')
    expect(result.message).toMatch(/^could not check highway's DNS setting: the dns-setup record .* is unreadable: it is not valid JSON/)
  })
})
