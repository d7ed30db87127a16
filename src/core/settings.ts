import {randomBytes} from 'node:crypto'
import {mkdirSync, readFileSync, renameSync, writeFileSync} from 'node:fs'
import {homedir} from 'node:os'
import {join} from 'node:path'
import {DEFAULT_SETTINGS, INFRA_PORTS, type Settings} from './types.js'

/**
 * Settings live in one small JSON file under highway's config directory (HIGHWAY_CONFIG_DIR, else
 * $XDG_CONFIG_HOME/highway, else ~/.config/highway), so the CLI and tests agree on one place. The
 * environment is passed in rather than read globally so tests can point it anywhere.
 *
 * Not conf: highway used it only to write this file. Its schema validator costs more start-up time
 * than the rest of `highway run` together, and what it adds (migrations, encryption, watching) is
 * not needed for five flat values written by one command. A plain read, and an atomic write.
 */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HIGHWAY_CONFIG_DIR) return env.HIGHWAY_CONFIG_DIR
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config')
  return join(base, 'highway')
}

const FILE = 'settings.json'

/** Missing, unreadable or foreign keys: the defaults fill in, and unknown keys are ignored. */
export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  let saved: Record<string, unknown> = {}
  try {
    const parsed: unknown = JSON.parse(readFileSync(join(configDir(env), FILE), 'utf8'))
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) saved = parsed as Record<string, unknown>
  } catch {
    // Not set up here yet (or a damaged file): callers report "run highway up" in their own words.
  }
  const settings = {...DEFAULT_SETTINGS}
  for (const key of Object.keys(DEFAULT_SETTINGS) as Array<keyof Settings>) {
    const value = saved[key]
    if (typeof value === typeof DEFAULT_SETTINGS[key] && Array.isArray(value) === Array.isArray(DEFAULT_SETTINGS[key])) {
      ;(settings as Record<string, unknown>)[key] = value
    }
  }
  // The one object-valued setting, absent on all but the hosts whose etcd joined a cluster.
  const member = saved.etcdMember as Record<string, unknown> | undefined
  if (member && typeof member === 'object' && typeof member.name === 'string' && typeof member.initialCluster === 'string') {
    settings.etcdMember = {initialCluster: member.initialCluster, name: member.name}
  }
  return settings
}

/** Written beside itself and renamed over, so a crash never leaves half a file. */
export function saveSettings(settings: Settings, env: NodeJS.ProcessEnv = process.env): void {
  const dir = configDir(env)
  mkdirSync(dir, {recursive: true})
  const temporary = join(dir, `.${FILE}.${process.pid}`)
  writeFileSync(temporary, `${JSON.stringify(settings, null, 2)}\n`, {mode: 0o600})
  renameSync(temporary, join(dir, FILE))
}

/** A new host id (see Settings.hostId): 64 random bits, hex, so it is a valid key part and etcd user name. */
export function newHostId(): string {
  return randomBytes(8).toString('hex')
}

/** The etcd that `up` runs on this host, as the host reaches it: published on loopback only, mutual TLS. */
export const LOOPBACK_ETCD_URL = `https://127.0.0.1:${INFRA_PORTS.etcd}`

/** Where this host (the CLI, its resolver, its browser) reaches highway's DNS and proxy: the bridge, unless out of reach. */
export function hostSideIp(settings: Pick<Settings, 'bridgeIp' | 'hostIp'>): string {
  return settings.hostIp || settings.bridgeIp
}

/** Which etcd this host's highway uses: the cluster given to `up --etcd`, else its own. */
export function etcdEndpoints(settings: Settings): string[] {
  return settings.etcdEndpoints.length > 0 ? settings.etcdEndpoints : [LOOPBACK_ETCD_URL, ...(settings.etcdPeers ?? [])]
}
