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

export const IP_ADDRESSES: CommandStep = {cmd: 'ip', args: ['-o', '-4', 'addr', 'show'], reason: 'find the link that holds the DNS address'}

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

function powershell(script: string, reason: string): CommandStep {
  return {cmd: 'powershell.exe', args: ['-NoProfile', '-NonInteractive', '-Command', script], reason}
}

export function nrptList(): CommandStep {
  return powershell(
    `Get-DnsClientNrptRule | Where-Object { $_.Comment -eq '${NRPT_COMMENT}' } | ForEach-Object { ($_.Namespace -join ',') + ' ' + ($_.NameServers -join ',') }`,
    "list highway's NRPT rules",
  )
}

export function nrptAdd(namespace: string, servers: string[]): CommandStep {
  return powershell(
    `Add-DnsClientNrptRule -Namespace '${namespace}' -NameServers ${servers.map((server) => `'${server}'`).join(',')} -Comment '${NRPT_COMMENT}'`,
    `send ${namespace} to highway's DNS`,
  )
}

export function nrptRemove(namespace: string): CommandStep {
  return powershell(
    `Get-DnsClientNrptRule | Where-Object { $_.Comment -eq '${NRPT_COMMENT}' -and $_.Namespace -contains '${namespace}' } | Remove-DnsClientNrptRule -Force`,
    `remove highway's NRPT rule for ${namespace}`,
  )
}

export const CLEAR_DNS_CACHE: CommandStep = powershell('Clear-DnsClientCache', 'forget cached answers')

export const IS_ADMINISTRATOR: CommandStep = powershell(
  '([Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent()).IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)',
  'check for an Administrator shell',
)

export function resolveDnsName(name: string): CommandStep {
  return powershell(
    `Resolve-DnsName -Name '${name}' -Type A -ErrorAction Stop | Where-Object { $_.IPAddress } | ForEach-Object { $_.IPAddress }`,
    'resolve through Windows',
  )
}

// ---- lookups through the OS's own path -------------------------------------------------------------

export function getentHosts(name: string): CommandStep {
  return {cmd: 'getent', args: ['hosts', name], reason: 'resolve through glibc (nsswitch)'}
}

export function dscacheutilHost(name: string): CommandStep {
  return {cmd: 'dscacheutil', args: ['-q', 'host', '-a', 'name', name], reason: 'resolve through macOS'}
}

export const SCUTIL_DNS: CommandStep = {cmd: 'scutil', args: ['--dns'], reason: "list macOS's resolvers"}
