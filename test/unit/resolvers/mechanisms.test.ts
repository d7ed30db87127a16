/**
 * Each mechanism as a scratch root laid out like that OS, with FakeSystem standing in for its
 * programs: apply, apply again (nothing changes), undo (byte-identical), undo after someone else
 * changed the same thing (only highway's part goes), dry run (nothing changes). The exact commands
 * that change something are asserted.
 */
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {renderApply, renderUndo} from '../../../src/resolvers/render.js'
import {applyDnsSetup, undoDnsSetup} from '../../../src/resolvers/setup.js'
import type {Mechanism, Platform} from '../../../src/resolvers/types.js'
import {
  FakeSystem,
  contextFor,
  exists,
  fixture,
  highwayDns,
  icaclsChange,
  machineFiles,
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
const STUB = '../run/systemd/resolve/stub-resolv.conf'

interface Scenario {
  name: string
  platform?: Platform
  layout: Layout
  domain?: string
  dnsIp?: string
  fake?: Omit<FakeOptions, 'root'>
  mechanism: Mechanism
  description: RegExp
  /** The commands that change something, exactly, on apply and on undo. */
  applyChanges: string[]
  undoChanges: string[]
  /** What the machine looks like after apply (beyond the commands). */
  afterApply: (root: string, fake: FakeSystem) => void
  /** Someone else changes the same thing between apply and undo... */
  tamper: (root: string, fake: FakeSystem) => void
  /** ...and undo removes only highway's part. */
  afterTamperedUndo: (root: string, fake: FakeSystem) => void
  tamperedUndoChanges?: string[]
  verifyOk: boolean
  verifyMentions?: RegExp
  /** Text the dry run must show (diff lines, commands). */
  dryRunShows: string[]
}

function link(fake: FakeSystem, name: string) {
  const value = fake.links.get(name)!
  return {dns: value.dns, domains: value.domains}
}

const resolvedByLink = (domain: string) => (fake: FakeSystem, name: string) =>
  name.endsWith(`.${domain}`) && fake.links.get('docker0')!.domains.includes(`~${domain}`) && fake.links.get('docker0')!.dns.includes(IP) ? [IP] : []

/** glibc asks the first nameserver: the name resolves when that is highway's. */
const firstNameserverIsHighway = (fake: FakeSystem) =>
  (
    read(fake.options.root, '/etc/resolv.conf')
      .split('\n')
      .find((line) => line.startsWith('nameserver')) ?? ''
  ).startsWith(`nameserver ${IP} `)
    ? [IP]
    : []

const scenarios: Scenario[] = [
  {
    name: 'systemd-resolved stub (Debian 12 desktop, nss-mdns before DNS)',
    layout: {fixture: 'systemd-resolved', links: {'/etc/resolv.conf': STUB}},
    mechanism: 'systemd-resolved',
    description: /^systemd-resolved with its stub listener 127\.0\.0\.53 \(\/etc\/resolv\.conf -> \/run\/systemd\/resolve\/stub-resolv\.conf\)$/,
    applyChanges: ['resolvectl dns docker0 172.17.0.1', "resolvectl domain docker0 '~local'"],
    undoChanges: ['resolvectl revert docker0'],
    afterApply: (_root, fake) => expect(link(fake, 'docker0')).toEqual({dns: [IP], domains: ['~local']}),
    tamper: (_root, fake) => fake.links.get('docker0')!.domains.push('~corp.example'),
    afterTamperedUndo: (_root, fake) => expect(link(fake, 'docker0')).toEqual({dns: [], domains: ['~corp.example']}),
    tamperedUndoChanges: ["resolvectl dns docker0 ''", "resolvectl domain docker0 '~corp.example'"],
    // resolved routes .local to docker0, but nss-mdns stops .local names before glibc asks it: the
    // fake's OS answer is empty, as it would be on that machine, and verify must say which hop.
    verifyOk: false,
    verifyMentions: /nss-mdns answers \.local names before DNS and stops there/,
    dryRunShows: ['$ resolvectl dns docker0 172.17.0.1', "$ resolvectl domain docker0 '~local'"],
  },
  {
    name: 'systemd-resolved fed by NetworkManager (Ubuntu 22.04), domain test',
    layout: {fixture: 'networkmanager-resolved', links: {'/etc/resolv.conf': STUB}, dirs: ['/run/NetworkManager']},
    domain: 'test',
    fake: {nmPrintConfig: fixture('networkmanager-resolved', 'print-config.txt'), resolves: resolvedByLink('test')},
    mechanism: 'systemd-resolved',
    description: /configured by NetworkManager \(dns=systemd-resolved\)/,
    applyChanges: ['resolvectl dns docker0 172.17.0.1', "resolvectl domain docker0 '~test'"],
    undoChanges: ['resolvectl revert docker0'],
    afterApply: (_root, fake) => expect(link(fake, 'docker0')).toEqual({dns: [IP], domains: ['~test']}),
    tamper: (_root, fake) => fake.links.get('docker0')!.dns.push('10.9.9.9'),
    afterTamperedUndo: (_root, fake) => expect(link(fake, 'docker0')).toEqual({dns: ['10.9.9.9'], domains: []}),
    tamperedUndoChanges: ['resolvectl dns docker0 10.9.9.9', "resolvectl domain docker0 ''"],
    verifyOk: true,
    dryRunShows: ["$ resolvectl domain docker0 '~test'"],
  },
  {
    name: 'systemd-resolved with nss-resolve first (Fedora)',
    layout: {fixture: 'resolved-fedora', links: {'/etc/resolv.conf': STUB}},
    fake: {resolves: resolvedByLink('local')},
    mechanism: 'systemd-resolved',
    description: /^systemd-resolved with its stub listener/,
    applyChanges: ['resolvectl dns docker0 172.17.0.1', "resolvectl domain docker0 '~local'"],
    undoChanges: ['resolvectl revert docker0'],
    afterApply: (_root, fake) => expect(link(fake, 'docker0')).toEqual({dns: [IP], domains: ['~local']}),
    tamper: (_root, fake) => fake.links.get('docker0')!.domains.push('~corp.example'),
    afterTamperedUndo: (_root, fake) => expect(link(fake, 'docker0')).toEqual({dns: [], domains: ['~corp.example']}),
    tamperedUndoChanges: ["resolvectl dns docker0 ''", "resolvectl domain docker0 '~corp.example'"],
    verifyOk: true,
    dryRunShows: ['$ resolvectl dns docker0 172.17.0.1'],
  },
  {
    name: 'Debian resolvconf',
    layout: {fixture: 'resolvconf', links: {'/etc/resolv.conf': '../run/resolvconf/resolv.conf'}},
    fake: {resolves: (fake) => (exists(fake.options.root, '/run/resolvconf/interface/lo.highway') ? [IP] : [])},
    mechanism: 'resolvconf',
    description: /^Debian resolvconf \(\/etc\/resolv\.conf -> \/run\/resolvconf\/resolv\.conf\)$/,
    applyChanges: ['resolvconf -a lo.highway <<< "nameserver 172.17.0.1\\n"'],
    undoChanges: ['resolvconf -d lo.highway'],
    afterApply: (root) => expect(read(root, '/run/resolvconf/interface/lo.highway')).toBe(`nameserver ${IP}\n`),
    tamper: (root) => write(root, '/run/resolvconf/interface/tun0.openvpn', 'nameserver 10.8.0.1\n'),
    afterTamperedUndo: (root) => {
      expect(exists(root, '/run/resolvconf/interface/lo.highway')).toBe(false)
      expect(read(root, '/run/resolvconf/interface/tun0.openvpn')).toBe('nameserver 10.8.0.1\n')
      expect(read(root, '/run/resolvconf/interface/eth0.dhclient')).toBe('domain lan\nsearch lan\nnameserver 192.168.1.1\n')
    },
    verifyOk: true,
    dryRunShows: ['$ resolvconf -a lo.highway', '(stdin) nameserver 172.17.0.1'],
  },
  {
    name: 'openresolv',
    layout: {fixture: 'openresolv'},
    fake: {resolvconfDir: 'interfaces', resolves: (fake) => (exists(fake.options.root, '/run/resolvconf/interfaces/lo.highway') ? [IP] : [])},
    mechanism: 'openresolv',
    description: /^openresolv \(\/etc\/resolv\.conf is a regular file, "# Generated by resolvconf"\)$/,
    applyChanges: ['resolvconf -a lo.highway <<< "nameserver 172.17.0.1\\n"'],
    undoChanges: ['resolvconf -d lo.highway'],
    afterApply: (root) => expect(read(root, '/run/resolvconf/interfaces/lo.highway')).toBe(`nameserver ${IP}\n`),
    tamper: (root) => write(root, '/run/resolvconf/interfaces/wg0', 'nameserver 10.7.0.1\n'),
    afterTamperedUndo: (root) => {
      expect(exists(root, '/run/resolvconf/interfaces/lo.highway')).toBe(false)
      expect(read(root, '/run/resolvconf/interfaces/wg0')).toBe('nameserver 10.7.0.1\n')
    },
    verifyOk: true,
    dryRunShows: ['$ resolvconf -a lo.highway'],
  },
  {
    name: 'NetworkManager with dns=dnsmasq',
    layout: {fixture: 'networkmanager-dnsmasq', dirs: ['/etc/NetworkManager/dnsmasq.d']},
    fake: {resolves: (fake) => (exists(fake.options.root, '/etc/NetworkManager/dnsmasq.d/highway.conf') ? [IP] : [])},
    mechanism: 'networkmanager-dnsmasq',
    description:
      /^NetworkManager with its dnsmasq plugin \(dns=dnsmasq, read from \/etc\/NetworkManager; \/etc\/resolv\.conf is a regular file, nameserver 127\.0\.1\.1\)$/,
    applyChanges: ['nmcli general reload dns-full'],
    undoChanges: ['nmcli general reload dns-full'],
    afterApply: (root) =>
      expect(read(root, '/etc/NetworkManager/dnsmasq.d/highway.conf')).toBe(
        "# Added by highway dns-setup: names under .local go to highway's DNS. `highway dns-setup --undo` removes this file.\nserver=/local/172.17.0.1\n",
      ),
    tamper: (root) => write(root, '/etc/NetworkManager/dnsmasq.d/corp.conf', 'server=/corp.example/10.8.0.1\n'),
    afterTamperedUndo: (root) => {
      expect(exists(root, '/etc/NetworkManager/dnsmasq.d/highway.conf')).toBe(false)
      expect(read(root, '/etc/NetworkManager/dnsmasq.d/corp.conf')).toBe('server=/corp.example/10.8.0.1\n')
    },
    verifyOk: true,
    dryRunShows: ['--- /dev/null', '+server=/local/172.17.0.1', '$ nmcli general reload dns-full'],
  },
  {
    name: 'plain /etc/resolv.conf (server with dhclient)',
    layout: {fixture: 'plain'},
    fake: {resolves: firstNameserverIsHighway},
    mechanism: 'plain',
    description: /^plain \/etc\/resolv\.conf that no tool manages \(nameserver 10\.0\.0\.2, 10\.0\.0\.3\)$/,
    applyChanges: [],
    undoChanges: [],
    afterApply: (root) =>
      expect(read(root, '/etc/resolv.conf')).toBe(
        `# Static resolver configuration for this server.\ndomain example.internal\nsearch example.internal\n${MARKED}\nnameserver 10.0.0.2\nnameserver 10.0.0.3\noptions timeout:2 attempts:2\n`,
      ),
    // A DHCP client adds a server of its own at the end.
    tamper: (root) => write(root, '/etc/resolv.conf', `${read(root, '/etc/resolv.conf')}nameserver 10.0.0.4\n`),
    afterTamperedUndo: (root) => expect(read(root, '/etc/resolv.conf')).toBe(`${fixture('plain', 'root', 'etc', 'resolv.conf')}nameserver 10.0.0.4\n`),
    verifyOk: true,
    dryRunShows: ['--- /etc/resolv.conf', `+${MARKED}`, ' nameserver 10.0.0.2'],
  },
  {
    name: 'WSL2 with a generated /etc/resolv.conf',
    layout: {fixture: 'wsl'},
    fake: {resolves: firstNameserverIsHighway},
    mechanism: 'wsl',
    description: /^WSL2-generated \/etc\/resolv\.conf/,
    applyChanges: [],
    undoChanges: [],
    afterApply: (root) =>
      expect(read(root, '/etc/resolv.conf')).toBe(fixture('wsl', 'root', 'etc', 'resolv.conf').replace('nameserver 10.255', `${MARKED}\nnameserver 10.255`)),
    // WSL restarts and writes the file anew (without highway's line).
    tamper: (root) => write(root, '/etc/resolv.conf', fixture('wsl', 'root', 'etc', 'resolv.conf').replace('10.255.255.254', '172.29.160.1')),
    afterTamperedUndo: (root) =>
      expect(read(root, '/etc/resolv.conf')).toBe(fixture('wsl', 'root', 'etc', 'resolv.conf').replace('10.255.255.254', '172.29.160.1')),
    verifyOk: true,
    dryRunShows: [`+${MARKED}`],
  },
  {
    name: 'macOS /etc/resolver (Docker Desktop, DNS published on 127.0.0.1)',
    platform: 'darwin',
    layout: {fixture: 'macos'},
    dnsIp: '127.0.0.1',
    fake: {
      scutil: (fake) => fixture('macos', exists(fake.options.root, '/etc/resolver/local') ? 'scutil-dns-with-highway.txt' : 'scutil-dns.txt'),
      resolves: (fake) => (exists(fake.options.root, '/etc/resolver/local') ? ['127.0.0.1'] : []),
    },
    mechanism: 'macos-resolver',
    description: /^macOS per-domain resolvers in \/etc\/resolver$/,
    applyChanges: [],
    undoChanges: [],
    afterApply: (root) =>
      expect(read(root, '/etc/resolver/local')).toBe(
        "# Added by highway dns-setup: names under .local go to highway's DNS. `highway dns-setup --undo` removes this file.\nnameserver 127.0.0.1\n",
      ),
    tamper: (root) => write(root, '/etc/resolver/test.example', 'nameserver 10.9.0.1\n'),
    afterTamperedUndo: (root) => {
      expect(exists(root, '/etc/resolver/local')).toBe(false)
      expect(read(root, '/etc/resolver/test.example')).toBe('nameserver 10.9.0.1\n')
      expect(read(root, '/etc/resolver/corp.example')).toBe('nameserver 10.8.0.1\n')
    },
    verifyOk: true,
    dryRunShows: ['--- /dev/null', '+++ /etc/resolver/local', '+nameserver 127.0.0.1'],
  },
  {
    name: 'Windows NRPT',
    platform: 'win32',
    layout: {},
    fake: {resolves: (fake, name) => (fake.nrpt.some((rule) => rule.comment === 'highway' && name.endsWith(rule.namespace)) ? [IP] : [])},
    mechanism: 'windows-nrpt',
    description: /^Windows DNS client with its Name Resolution Policy Table \(NRPT\)$/,
    // The state folder is restricted to Administrators and SYSTEM before the record is written there.
    applyChanges: ['<icacls>', "PS> Add-DnsClientNrptRule -Namespace '.local' -NameServers '172.17.0.1' -Comment 'highway'", 'PS> Clear-DnsClientCache'],
    undoChanges: [
      "PS> Get-DnsClientNrptRule | Where-Object { $_.Comment -eq 'highway' -and $_.Namespace -contains '.local' } | Remove-DnsClientNrptRule -Force",
      'PS> Clear-DnsClientCache',
    ],
    afterApply: (_root, fake) => expect(fake.nrpt).toEqual([{namespace: '.local', nameServers: [IP], comment: 'highway'}]),
    tamper: (_root, fake) => fake.nrpt.push({namespace: '.corp.example', nameServers: ['10.8.0.1'], comment: 'corp'}),
    afterTamperedUndo: (_root, fake) => expect(fake.nrpt).toEqual([{namespace: '.corp.example', nameServers: ['10.8.0.1'], comment: 'corp'}]),
    verifyOk: true,
    dryRunShows: ["Add-DnsClientNrptRule -Namespace '.local' -NameServers '172.17.0.1' -Comment 'highway'"],
  },
]

describe.each(scenarios)('$name', (scenario) => {
  const domain = scenario.domain ?? 'local'
  const dnsIp = scenario.dnsIp ?? IP
  const platform = scenario.platform ?? 'linux'
  let root: string
  let fake: FakeSystem
  let before: Record<string, string>
  let runtimeBefore: unknown

  const ctx = () => contextFor(root, fake, platform, {dnsQuery: highwayDns(dnsIp, domain)})
  const apply = (dryRun = false) => applyDnsSetup(ctx(), {domain, dnsIp, dryRun, verify: true})

  beforeEach(() => {
    root = makeRoot(scenario.layout)
    fake = new FakeSystem({root, ...scenario.fake})
    before = snapshot(root)
    runtimeBefore = fake.runtime()
  })
  afterEach(() => removeRoot(root))

  it('detects the mechanism in one line', async () => {
    const result = await apply(true)
    expect(result.detection.mechanism).toBe(scenario.mechanism)
    expect(result.detection.description).toMatch(scenario.description)
    expect(result.detection.description).not.toContain('\n')
  })

  it('applies with exactly the expected commands, records it and verifies', async () => {
    const result = await apply()
    expect(result.changed).toBe(true)
    expect(fake.changes).toEqual(scenario.applyChanges.map((line) => (line === '<icacls>' ? icaclsChange(root) : line)))
    scenario.afterApply(root, fake)
    const state = JSON.parse(
      read(
        root,
        platform === 'darwin'
          ? '/var/db/highway/dns-setup.json'
          : platform === 'win32'
            ? '/ProgramData/highway/dns-setup.json'
            : '/var/lib/highway/dns-setup.json',
      ),
    )
    expect(state).toMatchObject({schema: 1, mechanism: scenario.mechanism, domain, dnsIp})
    expect(state.commands.length).toBe(scenario.applyChanges.length)
    const verify = result.verify as {ok: boolean; summary: string}
    expect(verify.ok).toBe(scenario.verifyOk)
    if (scenario.verifyMentions) expect(verify.summary).toMatch(scenario.verifyMentions)
    const lines = renderApply(result)
    const output = printed(lines)
    expect(output).toMatch(/^detected: /)
    expect(output).toContain(verify.ok ? `verified: highway-probe.${domain} -> ${dnsIp}` : 'verify failed: ')
    // The command colours by level: what the user must act on is 'warn', a verified lookup 'ok'.
    for (const line of lines) {
      const level = /^(warning|blocked|verify failed):/.test(line.text) ? 'warn' : /^verified:/.test(line.text) ? 'ok' : 'info'
      expect(line.level, line.text).toBe(level)
    }
  })

  it('changes nothing when applied again, and says so', async () => {
    await apply()
    const afterFirst = snapshot(root)
    fake.changes = []
    const second = await apply()
    expect(second.changed).toBe(false)
    expect(fake.changes).toEqual([])
    expect(snapshot(root)).toEqual(afterFirst)
    expect(printed(renderApply(second))).toContain(`nothing to change: names under .${domain} already go to ${dnsIp}`)
  })

  it('undoes to a byte-identical machine', async () => {
    await apply()
    fake.changes = []
    const result = await undoDnsSetup(ctx())
    expect(fake.changes).toEqual(scenario.undoChanges)
    expect(snapshot(root)).toEqual(before)
    expect(fake.runtime()).toEqual(runtimeBefore)
    expect(printed(renderUndo(result))).toContain('removed the record')
    // And a second undo has nothing left to do.
    const again = await undoDnsSetup(ctx())
    expect(again.nothingRecorded).toBe(true)
  })

  it("removes only highway's part when someone else changed the same thing since", async () => {
    await apply()
    scenario.tamper(root, fake)
    fake.changes = []
    await undoDnsSetup(ctx())
    expect(fake.changes).toEqual(scenario.tamperedUndoChanges ?? scenario.undoChanges)
    scenario.afterTamperedUndo(root, fake)
    expect(exists(root, platform === 'linux' ? '/var/lib/highway' : platform === 'darwin' ? '/var/db/highway' : '/ProgramData/highway')).toBe(false)
  })

  it('dry run shows the change and changes nothing', async () => {
    const result = await apply(true)
    expect(snapshot(root)).toEqual(before)
    expect(fake.changes).toEqual([])
    const output = printed(renderApply(result))
    expect(output).toContain('dry run: nothing was changed; dns-setup would:')
    for (const text of scenario.dryRunShows) expect(output).toContain(text)
  })

  it('dry run of undo shows the change and changes nothing', async () => {
    await apply()
    const applied = snapshot(root)
    fake.changes = []
    const result = await undoDnsSetup(ctx(), {dryRun: true})
    expect(snapshot(root)).toEqual(applied)
    expect(fake.changes).toEqual([])
    expect(printed(renderUndo(result))).toMatch(/dry run: nothing was changed; undo would:|dry run: nothing left to change/)
  })

  it('leaves no file of the machine changed but the ones it names', async () => {
    await apply()
    const changed = Object.keys(machineFiles(root)).filter((key) => machineFiles(root)[key] !== before[key])
    const removed = Object.keys(before).filter((key) => !(key in snapshot(root)))
    expect(removed).toEqual([])
    for (const key of changed) expect(key).toMatch(/resolv\.conf$|\/lo\.highway$|\/highway\.conf$|\/dnsmasq\.d$|\/resolver(\/local)?$|\/interfaces?$/)
  })
})
