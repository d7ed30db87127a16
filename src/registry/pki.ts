import {existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {UserError} from '../core/errors.js'
import {configDir} from '../core/settings.js'
import {INFRA_PORTS} from '../core/types.js'

/**
 * The registry's keys and certificates on this host, in `<config dir>/pki/` (a 0700 directory owned
 * by the user highway runs as, root in practice; every file 0600, written atomically):
 *
 *   ca.crt    the CA every highway host trusts          ca.key    the CA's key: only on the host that made it
 *   etcd.crt  etcd's server (and peer) certificate      etcd.key  on the host that runs etcd
 *   root.crt  etcd user `root`: bootstraps etcd's auth  root.key  on the host that runs etcd
 *   host.crt  etcd user `host-<id>`: this host's agent  host.key  and CLI
 *
 * This module only reads and writes files (the agent's bundle includes it); certificates.ts makes them.
 */
export interface KeyPair {
  /** PEM certificate. */
  cert: string
  /** PEM PKCS#8 private key. */
  key: string
}

/** A TLS client identity as etcd3 and https take it: the CA to trust, and our own certificate and key (PEM). */
export interface TlsIdentity extends KeyPair {
  ca: string
}

/**
 * The name every etcd highway runs has in its certificate, whatever address it is reached at: clients
 * check it instead of the address, so one certificate serves loopback, the registry network and other
 * hosts (and Node does not warn about a TLS server name that is an IP address). It is also the etcd
 * container's name, which the agent dials on the registry network.
 */
export const ETCD_SERVER_NAME = 'highway-etcd'
/** How the agent addresses this host's etcd: by container name (also the name in etcd's certificate), on the registry network. */
export const AGENT_ETCD_URL = `https://${ETCD_SERVER_NAME}:${INFRA_PORTS.etcd}`

export type PkiName = 'ca' | 'etcd' | 'host' | 'root'

export function pkiDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(configDir(env), 'pki')
}

export class PkiStore {
  constructor(readonly dir: string) {}

  static of(env: NodeJS.ProcessEnv = process.env): PkiStore {
    return new PkiStore(pkiDir(env))
  }

  /** Refuses a directory another user owns or others may enter: the keys in it are etcd identities. */
  private check(): void {
    const stat = statSync(this.dir)
    if (!stat.isDirectory()) throw new UserError(`${this.dir} is not a directory`, {suggestion: 'move it away and run `highway up` again'})
    if (process.getuid && stat.uid !== process.getuid()) {
      throw new UserError(`${this.dir} belongs to another user (uid ${stat.uid})`, {suggestion: `run highway as that user, or \`chown -R\` the directory`})
    }
    if ((stat.mode & 0o077) !== 0) {
      throw new UserError(`${this.dir} is open to other users (mode ${(stat.mode & 0o777).toString(8)})`, {suggestion: `chmod 700 ${this.dir}`})
    }
  }

  private path(name: PkiName, part: keyof KeyPair): string {
    return join(this.dir, `${name}.${part === 'cert' ? 'crt' : 'key'}`)
  }

  private read(name: PkiName, part: keyof KeyPair): string | null {
    if (!existsSync(this.dir)) return null
    this.check()
    try {
      return readFileSync(this.path(name, part), 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw error
    }
  }

  cert(name: PkiName): string | null {
    return this.read(name, 'cert')
  }

  /** Certificate and key, or null unless both are here. */
  pair(name: PkiName): KeyPair | null {
    const cert = this.read(name, 'cert')
    const key = cert === null ? null : this.read(name, 'key')
    return cert !== null && key !== null ? {cert, key} : null
  }

  /** An etcd client identity: this CA and that user's certificate and key, or null unless all three are here. */
  identity(name: 'etcd' | 'host' | 'root'): TlsIdentity | null {
    const ca = this.cert('ca')
    const pair = ca === null ? null : this.pair(name)
    return ca !== null && pair ? {ca, ...pair} : null
  }

  /** Writes what is given of a pair, each file 0600, renamed into place so a crash leaves no half file. */
  write(name: PkiName, pair: Partial<KeyPair>): void {
    mkdirSync(this.dir, {mode: 0o700, recursive: true})
    this.check()
    for (const part of ['key', 'cert'] as const) {
      const content = pair[part]
      if (content === undefined) continue
      const target = this.path(name, part)
      const temporary = `${target}.${process.pid}.tmp`
      writeFileSync(temporary, content, {mode: 0o600})
      renameSync(temporary, target)
    }
  }

  remove(name: PkiName): void {
    if (!existsSync(this.dir)) return
    this.check()
    for (const part of ['cert', 'key'] as const) rmSync(this.path(name, part), {force: true})
  }
}
