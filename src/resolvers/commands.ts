/**
 * Every program dns-setup runs, in one place: the exact arguments are what the tests assert and
 * what the dry run prints. Domains and addresses reaching here have passed assertDomain/assertIPv4,
 * so nothing can be smuggled into a PowerShell script.
 */
import type {CommandStep} from './types.js'

/** The resolvconf record name: Debian's interface-order puts `lo.*` records first. */
export const RESOLVCONF_INTERFACE = 'lo.highway'
/** The Comment of highway's NRPT rules: how they are found again. */
export const NRPT_COMMENT = 'highway'

// ---- systemd-resolved, per link -----------------------------------------------------------------

export function resolvectlDns(link: string, servers: string[]): CommandStep {
  return {cmd: 'resolvectl', args: ['dns', link, ...(servers.length > 0 ? servers : [''])], reason: `DNS servers of link ${link}`}
}

export function resolvectlDomain(link: string, domains: string[]): CommandStep {
  return {cmd: 'resolvectl', args: ['domain', link, ...(domains.length > 0 ? domains : [''])], reason: `routing domains of link ${link}`}
}

/** The query form, `resolvectl dns docker0`: prints "Link 5 (docker0): 172.17.0.1". */
export function resolvectlShow(setting: 'dns' | 'domain', link: string): CommandStep {
  return {cmd: 'resolvectl', args: [setting, link], reason: `read the ${setting} setting of link ${link}`}
}

export function resolvectlRevert(link: string): CommandStep {
  return {cmd: 'resolvectl', args: ['revert', link], reason: `drop the per-link DNS settings of ${link}`}
}

export function resolvectlQuery(name: string): CommandStep {
  return {cmd: 'resolvectl', args: ['query', '--legend=no', name], reason: 'ask systemd-resolved'}
}

/** resolved rereads resolved.conf.d only when restarted; its per-link settings survive that (kept under /run). */
export const RESOLVED_RESTART: CommandStep = {
  cmd: 'systemctl',
  args: ['restart', 'systemd-resolved'],
  reason: 'make systemd-resolved read its configuration again',
}

export const IP_ADDRESSES: CommandStep = {cmd: 'ip', args: ['-o', '-4', 'addr', 'show'], reason: 'find the link that holds the DNS address'}

/** The kernel's route to an address: "172.17.0.1 dev eth0 src 172.17.0.2 uid 0". */
export function ipRouteGet(ip: string): CommandStep {
  return {cmd: 'ip', args: ['-o', '-4', 'route', 'get', ip], reason: 'find the link the DNS address is reached through'}
}

// ---- resolvconf / openresolv ----------------------------------------------------------------------

export function resolvconfAdd(record: string): CommandStep {
  return {cmd: 'resolvconf', args: ['-a', RESOLVCONF_INTERFACE], input: record, reason: `add the record ${RESOLVCONF_INTERFACE}`}
}

export function resolvconfDelete(): CommandStep {
  return {cmd: 'resolvconf', args: ['-d', RESOLVCONF_INTERFACE], reason: `remove the record ${RESOLVCONF_INTERFACE}`}
}

// ---- NetworkManager -------------------------------------------------------------------------------

export const NM_PRINT_CONFIG: CommandStep = {cmd: 'NetworkManager', args: ['--print-config'], reason: "read NetworkManager's merged configuration"}

/** Restarts NM's DNS plugin: the only way its dnsmasq rereads /etc/NetworkManager/dnsmasq.d. */
export const NM_RELOAD_DNS: CommandStep = {
  cmd: 'nmcli',
  args: ['general', 'reload', 'dns-full'],
  reason: "restart NetworkManager's dnsmasq so it reads dnsmasq.d",
}

// ---- Windows NRPT -------------------------------------------------------------------------------

/** Where Windows lives when the environment does not say (or says something that is no drive path). */
export const DEFAULT_SYSTEM_ROOT = 'C:\\Windows'

/** %SystemRoot% from the context's environment: Windows' own programs are run from there, never found on PATH. */
export function systemRoot(env: NodeJS.ProcessEnv): string {
  const value = env.SystemRoot ?? env.SYSTEMROOT
  return value && /^[A-Za-z]:\\/.test(value) ? value.replace(/\\+$/, '') : DEFAULT_SYSTEM_ROOT
}

/** Windows PowerShell by its full system path: a powershell.exe planted earlier on PATH is never run elevated. */
export function powershellPath(windows: string): string {
  return `${windows}\\System32\\WindowsPowerShell\\v1.0\\powershell.exe`
}

function powershell(windows: string, script: string, reason: string): CommandStep {
  return {cmd: powershellPath(windows), args: ['-NoProfile', '-NonInteractive', '-Command', script], reason}
}

export function nrptList(windows: string): CommandStep {
  return powershell(
    windows,
    `Get-DnsClientNrptRule | Where-Object { $_.Comment -eq '${NRPT_COMMENT}' } | ForEach-Object { ($_.Namespace -join ',') + ' ' + ($_.NameServers -join ',') }`,
    "list highway's NRPT rules",
  )
}

export function nrptAdd(windows: string, namespace: string, servers: string[]): CommandStep {
  return powershell(
    windows,
    `Add-DnsClientNrptRule -Namespace '${namespace}' -NameServers ${servers.map((server) => `'${server}'`).join(',')} -Comment '${NRPT_COMMENT}'`,
    `send ${namespace} to highway's DNS`,
  )
}

export function nrptRemove(windows: string, namespace: string): CommandStep {
  return powershell(
    windows,
    `Get-DnsClientNrptRule | Where-Object { $_.Comment -eq '${NRPT_COMMENT}' -and $_.Namespace -contains '${namespace}' } | Remove-DnsClientNrptRule -Force`,
    `remove highway's NRPT rule for ${namespace}`,
  )
}

export function clearDnsCache(windows: string): CommandStep {
  return powershell(windows, 'Clear-DnsClientCache', 'forget cached answers')
}

export function isAdministrator(windows: string): CommandStep {
  return powershell(
    windows,
    '([Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent()).IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)',
    'check for an Administrator shell',
  )
}

export function resolveDnsName(windows: string, name: string): CommandStep {
  return powershell(
    windows,
    `Resolve-DnsName -Name '${name}' -Type A -ErrorAction Stop | Where-Object { $_.IPAddress } | ForEach-Object { $_.IPAddress }`,
    'resolve through Windows',
  )
}

/**
 * Only Administrators (S-1-5-32-544) and SYSTEM (S-1-5-18) may touch highway's state folder: the
 * inherited ACL of ProgramData lets every user create files there. By SID, so any display language works.
 */
export function restrictToAdministrators(windows: string, dir: string): CommandStep {
  return {
    cmd: `${windows}\\System32\\icacls.exe`,
    args: [dir, '/inheritance:r', '/grant:r', '*S-1-5-32-544:(OI)(CI)F', '*S-1-5-18:(OI)(CI)F'],
    reason: "let only Administrators and SYSTEM use highway's state folder",
  }
}

// ---- lookups through the OS's own path -------------------------------------------------------------

export function getentHosts(name: string): CommandStep {
  return {cmd: 'getent', args: ['hosts', name], reason: 'resolve through glibc (nsswitch)'}
}

export function dscacheutilHost(name: string): CommandStep {
  return {cmd: 'dscacheutil', args: ['-q', 'host', '-a', 'name', name], reason: 'resolve through macOS'}
}

export const SCUTIL_DNS: CommandStep = {cmd: 'scutil', args: ['--dns'], reason: "list macOS's resolvers"}
