/**
 * The vocabulary of `highway dns-setup`: how this machine resolves names (a Detection), what
 * highway would change (a Plan), and the outside world it works through (a ResolverContext: a root
 * directory, a command runner and a platform, all passed in so tests use a scratch root and a
 * recording runner instead of the machine's own /etc).
 */
import type {FsLike} from './root-fs.js'

export type Platform = 'linux' | 'darwin' | 'win32'

export interface CommandResult {
  code: number
  stdout: string
  stderr: string
}

/** Runs one program (never through a shell). `input`, when given, is written to its stdin. */
export interface CommandRunner {
  run(cmd: string, args: string[], input?: string): Promise<CommandResult>
}

/** Everything the resolver code reads or changes goes through this. No global state. */
export interface ResolverContext {
  /** The directory that stands for `/`: '/' on the real machine, a scratch directory in tests. */
  root: string
  platform: Platform
  env: NodeJS.ProcessEnv
  runner: CommandRunner
  /** Defaults to node:fs/promises; tests inject faults (a read-only file, a rename that fails). */
  fs?: FsLike
  /** Defaults to process.getuid; undefined on Windows. */
  getuid?: () => number | undefined
  /** Asks one DNS server directly for a name's IPv4 addresses; used to tell which hop failed. */
  dnsQuery?: (server: string, name: string) => Promise<string[]>
  now?: () => Date
}

export type Mechanism =
  | 'systemd-resolved'
  | 'systemd-resolved-direct'
  | 'resolvconf'
  | 'openresolv'
  | 'networkmanager-dnsmasq'
  | 'plain'
  | 'wsl'
  | 'macos-resolver'
  | 'windows-nrpt'
  | 'unsupported'

/** How /etc/resolv.conf looks: the link chain, the file it finally names, and its content. */
export interface ResolvConfInfo {
  /** Always /etc/resolv.conf. */
  path: string
  /** Each symlink target followed, as system paths (empty when it is a regular file). */
  links: string[]
  /** The system path of the file the chain ends at (== path when it is not a symlink). */
  target: string
  /** null when the chain ends at nothing (a dangling symlink). */
  content: string | null
  nameservers: string[]
}

export interface NetworkManagerInfo {
  /** [main] dns=, 'default' when unset. */
  dns: string
  /** [main] rc-manager=, undefined when unset. */
  rcManager?: string
  /** Where the values came from: `NetworkManager --print-config` or the config files. */
  source: string
}

export interface Detection {
  platform: Platform
  mechanism: Mechanism
  /** One line for humans: "systemd-resolved (stub 127.0.0.53; /etc/resolv.conf -> ...)". */
  description: string
  resolvConf?: ResolvConfInfo
  networkManager?: NetworkManagerInfo
  /** The `hosts:` line of /etc/nsswitch.conf, without the key; null when absent. */
  nsswitchHosts: string | null
  /** Things that may undo or bypass the change (a DHCP client rewriting resolv.conf, WSL...). */
  warnings: string[]
  /** systemd-resolved runs (/run/systemd/resolve exists) although it is not the mechanism (NetworkManager's dnsmasq). */
  resolvedRunning?: boolean
  /** For 'unsupported': which setup highway will not change by itself (the plan says what to do by hand). */
  unsupported?: 'networkmanager' | 'wsl-shared'
}

/** A reason names under the domain may not reach highway's DNS even after the change. */
export interface Trap {
  kind:
    'nss-mdns' | 'nss-mdns-slow' | 'nss-no-dns' | 'resolved-mdns' | 'macos-mdns' | 'windows-mdns' | 'resolved-direct' | 'docker-desktop' | 'nm-dnsmasq-resolved'
  /** True when names under the domain cannot resolve at all until the user acts. */
  blocking: boolean
  /** True when highway's own change takes care of it (e.g. a routing domain). */
  handled: boolean
  message: string
  fix?: string
}

export interface FileChange {
  /** System path (as seen from the root), e.g. /etc/resolv.conf. */
  path: string
  action: 'create' | 'edit' | 'delete'
  /** Current content; null when the file does not exist. */
  before: string | null
  /** New content; null for delete. */
  after: string | null
  /** Directories that must be created first (outermost first). */
  createDirs: string[]
  /** Why, in a few words: "add highway's nameserver first". */
  reason: string
}

export interface CommandStep {
  cmd: string
  args: string[]
  input?: string
  reason: string
}

/** What is in place for each mechanism, kept in the state file and used to undo it. */
export type Runtime =
  | {kind: 'resolved-link'; link: string; dns: string[]; domains: string[]; prior: {dns: string[]; domains: string[]}}
  | {kind: 'resolvconf'; interface: string; record: string}
  | {kind: 'nrpt'; namespace: string; nameServers: string[]; comment: string}

export interface Plan {
  mechanism: Mechanism
  description: string
  domain: string
  dnsIp: string
  files: FileChange[]
  commands: CommandStep[]
  /** Directories to remove if they are empty, after the files (undo of directories highway created). */
  removeDirs: string[]
  /** What undo will run for the commands (recorded in the state file for people reading it). */
  undo: CommandStep[]
  /** The runtime settings this plan puts in place (empty for file-only mechanisms). */
  runtime: Runtime[]
  /** True when this mechanism's change is lost on reboot / when docker0 is recreated. */
  runtimeOnly: boolean
  notes: string[]
  traps: Trap[]
}

export function isEmptyPlan(plan: Plan): boolean {
  return plan.files.length === 0 && plan.commands.length === 0
}
