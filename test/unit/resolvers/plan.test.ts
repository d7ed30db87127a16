/**
 * Details of the plan per mechanism beyond the common apply/undo cycle: directories highway creates
 * and removes again, prior per-link settings restored exactly, stale rules replaced, symlinked
 * files edited at their target, glibc's three-nameserver limit.
 */
import {afterEach, describe, expect, it} from 'vitest'
import {renderApply, renderUndo} from '../../../src/resolvers/render.js'
import {applyDnsSetup, undoDnsSetup} from '../../../src/resolvers/setup.js'
import {
  FakeSystem,
  contextFor,
  icaclsChange,
  exists,
  highwayDns,
  makeRoot,
  printed,
  read,
  removeRoot,
  snapshot,
  write,
  type FakeOptions,
  type Layout,
} from './helpers.js'

const IP = '172.17.0.1'
const MARKED = `nameserver ${IP} # added by highway dns-setup`
const roots: string[] = []
afterEach(() => {
  for (const root of roots.splice(0)) removeRoot(root)
})

function machine(layout: Layout, options: Partial<FakeOptions> = {}) {
  const root = makeRoot(layout)
  roots.push(root)
  return {root, fake: new FakeSystem({root, ...options})}
}

describe('plan details', () => {
  it("resolved, the link toward highway's DNS already has its own servers (an uplink): a global drop-in, not the link; undo removes it", async () => {
    // As in a VM or container that reaches the bridge through its eth0, whose DNS NetworkManager sets.
    const {root, fake} = machine(
      {fixture: 'systemd-resolved', links: {'/etc/resolv.conf': '../run/systemd/resolve/stub-resolv.conf'}},
      {ipAddr: '7: eth0    inet 172.17.0.5/16 brd 172.17.255.255 scope global eth0\\', ipRoute: `${IP} dev eth0 src 172.17.0.5 uid 0`},
    )
    fake.links.set('eth0', {index: 7, dns: ['172.17.0.9'], domains: ['~.']})
    const before = snapshot(root)
    const runtimeBefore = fake.runtime()
    const result = await applyDnsSetup(contextFor(root, fake), {domain: 'local', dnsIp: IP, verify: false})
    expect(read(root, '/etc/systemd/resolved.conf.d/highway.conf')).toMatch(
      /^# Added by highway dns-setup.*\n\[Resolve\]\nDNS=172\.17\.0\.1\nDomains=~local\n$/,
    )
    expect(fake.changes).toEqual(['systemctl restart systemd-resolved'])
    expect(result.plan.runtimeOnly).toBe(false)
    expect(printed(renderApply(result))).toContain('link eth0, through which 172.17.0.1 is reached, already has DNS servers of its own (172.17.0.9)')
    const again = await applyDnsSetup(contextFor(root, fake), {domain: 'local', dnsIp: IP, verify: false})
    expect(again.changed).toBe(false)
    await undoDnsSetup(contextFor(root, fake))
    expect(fake.changes).toEqual(['systemctl restart systemd-resolved', 'systemctl restart systemd-resolved'])
    expect(snapshot(root)).toEqual(before)
    expect(fake.runtime()).toEqual(runtimeBefore)
  })

  it('NetworkManager without a dnsmasq.d directory: creates it and undo removes it', async () => {
    const {root, fake} = machine({fixture: 'networkmanager-dnsmasq'})
    const before = snapshot(root)
    const dry = await applyDnsSetup(contextFor(root, fake), {domain: 'local', dnsIp: IP, dryRun: true})
    expect(printed(renderApply(dry))).toContain(
      "create /etc/NetworkManager/dnsmasq.d/highway.conf (tell NetworkManager's dnsmasq to send .local to 172.17.0.1), creating /etc/NetworkManager/dnsmasq.d:",
    )
    const result = await applyDnsSetup(contextFor(root, fake), {domain: 'local', dnsIp: IP})
    expect(result.execution?.dirsCreated).toEqual(['/etc/NetworkManager/dnsmasq.d'])
    await undoDnsSetup(contextFor(root, fake))
    expect(snapshot(root)).toEqual(before)
  })

  it('macOS without /etc/resolver: creates it, undo removes it; the detection says it was missing', async () => {
    const {root, fake} = machine({files: {'/etc/hosts': '127.0.0.1 localhost\n'}})
    const before = snapshot(root)
    const ctx = contextFor(root, fake, 'darwin', {dnsQuery: highwayDns('127.0.0.1', 'test')})
    const result = await applyDnsSetup(ctx, {domain: 'test', dnsIp: '127.0.0.1', verify: false})
    expect(result.detection.description).toBe('macOS per-domain resolvers in /etc/resolver (the directory does not exist yet)')
    expect(read(root, '/etc/resolver/test')).toContain('nameserver 127.0.0.1\n')
    expect(result.plan.traps).toEqual([])
    await undoDnsSetup(ctx)
    expect(snapshot(root)).toEqual(before)
  })

  it('a highway-owned file changed by someone since: undo still removes it, and says so', async () => {
    const {root, fake} = machine({fixture: 'networkmanager-dnsmasq', dirs: ['/etc/NetworkManager/dnsmasq.d']})
    await applyDnsSetup(contextFor(root, fake), {domain: 'local', dnsIp: IP})
    write(root, '/etc/NetworkManager/dnsmasq.d/highway.conf', `${read(root, '/etc/NetworkManager/dnsmasq.d/highway.conf')}log-queries\n`)
    const result = await undoDnsSetup(contextFor(root, fake))
    expect(exists(root, '/etc/NetworkManager/dnsmasq.d/highway.conf')).toBe(false)
    expect(printed(renderUndo(result))).toContain(
      'note: /etc/NetworkManager/dnsmasq.d/highway.conf was changed since dns-setup created it; removed anyway (highway owns it)',
    )
  })

  it('docker0 had DNS settings of its own: undo puts exactly those back', async () => {
    const {root, fake} = machine({fixture: 'resolved-fedora', links: {'/etc/resolv.conf': '../run/systemd/resolve/stub-resolv.conf'}})
    fake.links.set('docker0', {index: 5, dns: ['10.1.1.1'], domains: []})
    await applyDnsSetup(contextFor(root, fake), {domain: 'local', dnsIp: IP})
    expect(fake.links.get('docker0')).toMatchObject({dns: [IP], domains: ['~local']})
    fake.changes = []
    await undoDnsSetup(contextFor(root, fake))
    expect(fake.changes).toEqual(['resolvectl dns docker0 10.1.1.1', "resolvectl domain docker0 ''"])
    expect(fake.links.get('docker0')).toMatchObject({dns: ['10.1.1.1'], domains: []})
  })

  it('the DNS address on another bridge: the link holding it is used', async () => {
    const {root, fake} = machine(
      {fixture: 'resolved-fedora', links: {'/etc/resolv.conf': '../run/systemd/resolve/stub-resolv.conf'}},
      {ipAddr: '7: br-highway    inet 172.18.0.1/16 brd 172.18.255.255 scope global br-highway\\       valid_lft forever preferred_lft forever\n'},
    )
    fake.links.set('br-highway', {index: 7, dns: [], domains: []})
    await applyDnsSetup(contextFor(root, fake), {domain: 'local', dnsIp: '172.18.0.1'})
    expect(fake.changes).toEqual(['resolvectl dns br-highway 172.18.0.1', "resolvectl domain br-highway '~local'"])
  })

  it('a stale NRPT rule of highway for the namespace is replaced', async () => {
    const {root, fake} = machine({})
    fake.nrpt.push({namespace: '.local', nameServers: ['172.18.0.1'], comment: 'highway'})
    await applyDnsSetup(contextFor(root, fake, 'win32'), {domain: 'local', dnsIp: IP})
    expect(fake.changes).toEqual([
      icaclsChange(root),
      "PS> Get-DnsClientNrptRule | Where-Object { $_.Comment -eq 'highway' -and $_.Namespace -contains '.local' } | Remove-DnsClientNrptRule -Force",
      "PS> Add-DnsClientNrptRule -Namespace '.local' -NameServers '172.17.0.1' -Comment 'highway'",
      'PS> Clear-DnsClientCache',
    ])
    expect(fake.nrpt).toEqual([{namespace: '.local', nameServers: [IP], comment: 'highway'}])
  })

  it('/etc/resolv.conf symlinked to an unmanaged file: the target is edited, the symlink kept', async () => {
    const {root, fake} = machine({files: {'/etc/resolv.conf.static': 'nameserver 10.0.0.2\n'}, links: {'/etc/resolv.conf': 'resolv.conf.static'}})
    const before = snapshot(root)
    const result = await applyDnsSetup(contextFor(root, fake), {domain: 'local', dnsIp: IP})
    expect(result.detection.description).toBe('plain /etc/resolv.conf that no tool manages (/etc/resolv.conf -> /etc/resolv.conf.static, nameserver 10.0.0.2)')
    expect(snapshot(root)['/etc/resolv.conf']).toBe('link -> resolv.conf.static')
    expect(read(root, '/etc/resolv.conf.static')).toBe(`${MARKED}\nnameserver 10.0.0.2\n`)
    await undoDnsSetup(contextFor(root, fake))
    expect(snapshot(root)).toEqual(before)
  })

  it("glibc's limit of three nameservers is named when highway's line pushes one out", async () => {
    const {root, fake} = machine({files: {'/etc/resolv.conf': 'nameserver 10.0.0.2\nnameserver 10.0.0.3\nnameserver 10.0.0.4\n'}})
    const result = await applyDnsSetup(contextFor(root, fake), {domain: 'local', dnsIp: IP, dryRun: true})
    expect(result.plan.notes).toContain('glibc reads only the first 3 nameservers: 10.0.0.4 will no longer be asked')
  })

  it('the backup of an edited file is kept until undo, then removed with the record', async () => {
    const {root, fake} = machine({fixture: 'plain'})
    const original = read(root, '/etc/resolv.conf')
    await applyDnsSetup(contextFor(root, fake), {domain: 'local', dnsIp: IP})
    expect(read(root, '/var/lib/highway/backup/etc/resolv.conf')).toBe(original)
    await undoDnsSetup(contextFor(root, fake))
    expect(exists(root, '/var/lib/highway')).toBe(false)
    expect(exists(root, '/var')).toBe(false)
  })

  it('the results are plain data (what --json prints)', async () => {
    const {root, fake} = machine({fixture: 'plain'})
    const result = await applyDnsSetup(contextFor(root, fake), {domain: 'local', dnsIp: IP})
    const json = JSON.parse(JSON.stringify(result))
    expect(json).toMatchObject({action: 'apply', changed: true, detection: {mechanism: 'plain'}, plan: {files: [{path: '/etc/resolv.conf', action: 'edit'}]}})
  })

  it('a warning for a DHCP client that may rewrite a plain resolv.conf', async () => {
    const {root, fake} = machine({fixture: 'plain'})
    const result = await applyDnsSetup(contextFor(root, fake), {domain: 'local', dnsIp: IP, dryRun: true})
    expect(result.detection.warnings).toEqual([
      "dhclient is installed: when it renews a lease it may rewrite /etc/resolv.conf and drop highway's line (`highway up` notices; rerun `sudo highway dns-setup`)",
    ])
  })

  it('verify names the hop: highway’s DNS not answering', async () => {
    const {root, fake} = machine({fixture: 'plain'})
    const down = async () => {
      throw Object.assign(new Error('connect ECONNREFUSED'), {code: 'ECONNREFUSED'})
    }
    const result = await applyDnsSetup(contextFor(root, fake, 'linux', {dnsQuery: down}), {domain: 'local', dnsIp: IP, verify: true})
    expect(result.verify).toMatchObject({
      ok: false,
      summary:
        "highway-probe.local does not resolve through this machine's resolver: highway's DNS at 172.17.0.1:53 does not answer highway-probe.local (ECONNREFUSED): is highway up? (`highway up`)",
    })
  })
})
