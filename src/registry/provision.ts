import {readFileSync, writeFileSync} from 'node:fs'
import {isIPv4} from 'node:net'
import {isDeepStrictEqual} from 'node:util'
import {UserError} from '../core/errors.js'
import {INFRA_PORTS} from '../core/types.js'
import {hostUser, ROOT_USER} from './access.js'
import {createCa, issue, issuedBy, subjectOf, type Subject} from './certificates.js'
import {ETCD_SERVER_NAME, type KeyPair, type PkiStore, type TlsIdentity} from './pki.js'
import {HOST_ID} from './schema.js'

/**
 * What `up` and `join-file` keep in the PKI directory (pki.ts): on the host that runs etcd, the CA
 * and every certificate, made once and made again only when what they must name changes; on a host
 * that joined, the CA certificate and its own identity, from the join file.
 */

/** The identities `up` hands out on the host that runs etcd. */
export interface LocalPki {
  /** etcd's server certificate, with the CA it trusts for clients. */
  etcd: TlsIdentity
  /** etcd user root: bootstraps auth. */
  root: TlsIdentity
  /** etcd user host-<id>: the agent and the CLI. */
  host: TlsIdentity
}

/** The addresses etcd's certificate must name: loopback (the CLI), its container name (the agent), the advertise address (other hosts). */
export function etcdSubject(advertiseIp: string | undefined): Subject {
  return {commonName: ETCD_SERVER_NAME, dnsNames: [ETCD_SERVER_NAME], ips: ['127.0.0.1', ...(advertiseIp ? [advertiseIp] : [])]}
}

async function ensurePair(store: PkiStore, name: 'etcd' | 'host' | 'root', ca: KeyPair, subject: Subject): Promise<TlsIdentity> {
  const existing = store.pair(name)
  const wanted = {dnsNames: [], ips: [], ...subject}
  if (existing && issuedBy(existing.cert, ca.cert) && isDeepStrictEqual(subjectOf(existing.cert), wanted)) return {ca: ca.cert, ...existing}
  const made = await issue(ca, subject)
  store.write(name, made)
  return {ca: ca.cert, ...made}
}

/** On the host that runs etcd: the CA (made on the first `up`) and the three identities for these settings. */
export async function ensureLocalPki(store: PkiStore, options: {hostId: string; advertiseIp?: string}): Promise<LocalPki> {
  let ca = store.pair('ca')
  if (!ca) {
    ca = await createCa()
    store.write('ca', ca)
  }
  return {
    etcd: await ensurePair(store, 'etcd', ca, etcdSubject(options.advertiseIp)),
    host: await ensurePair(store, 'host', ca, {commonName: hostUser(options.hostId)}),
    root: await ensurePair(store, 'root', ca, {commonName: ROOT_USER}),
  }
}

/** The peer URL of a member on this advertise address. */
export function peerUrl(advertiseIp: string): string {
  return `https://${advertiseIp}:${INFRA_PORTS.etcdPeer}`
}

/**
 * On a host whose etcd joined the cluster as a member: the identities its join file gave it (etcd's
 * server and peer certificate, root for the member API, its own host user). No CA key: only the
 * first host can issue certificates.
 */
export function memberPki(store: PkiStore): LocalPki {
  const [etcd, root, host] = [store.identity('etcd'), store.identity('root'), store.identity('host')]
  if (!etcd || !root || !host) {
    throw new UserError('this host runs an etcd member but keeps no certificate for it', {
      suggestion: 'on the first host, `highway join-file --out FILE --advertise-ip THIS-HOST`; here, `highway up --join FILE`',
    })
  }
  return {etcd, host, root}
}

/** On a host that uses another host's etcd: the identity its join file gave it. */
export function joinedIdentity(store: PkiStore, hostId: string): TlsIdentity {
  const identity = store.identity('host')
  if (!identity || subjectOf(identity.cert).commonName !== hostUser(hostId)) {
    throw new UserError('this host has no certificate for the etcd it uses', {
      suggestion: 'on the host that runs etcd, `highway join-file --out FILE`; here, `highway up --join FILE`',
    })
  }
  return identity
}

/**
 * One file that lets another host use this host's etcd: the CA's certificate (never its key), a
 * new host id with its certificate and key, and where etcd answers. Whoever holds it is that host
 * to etcd, so it is written 0600 and should travel like a key.
 */
export interface JoinFile {
  highwayJoin: 1
  hostId: string
  endpoints: string[]
  ca: string
  cert: string
  key: string
  /**
   * Present when the host also runs an etcd member: its address (named in its certificate, where the
   * other members dial it), etcd's server and peer certificate for it, and root's identity (etcd's
   * member API is root's only). A member holds every record anyway, so root gives it nothing more.
   */
  member?: {advertiseIp: string; etcd: {cert: string; key: string}; root: {cert: string; key: string}}
}

export async function makeJoinFile(store: PkiStore, options: {hostId: string; endpoints: string[]; memberIp?: string}): Promise<JoinFile> {
  const ca = store.pair('ca')
  if (!ca) throw new UserError('this host keeps no registry CA', {suggestion: 'run `highway join-file` on the host where `highway up` first ran'})
  const {cert, key} = await issue(ca, {commonName: hostUser(options.hostId)})
  const join: JoinFile = {ca: ca.cert, cert, endpoints: options.endpoints, highwayJoin: 1, hostId: options.hostId, key}
  if (options.memberIp) {
    join.member = {advertiseIp: options.memberIp, etcd: await issue(ca, etcdSubject(options.memberIp)), root: await issue(ca, {commonName: ROOT_USER})}
  }
  return join
}

/** Never over an existing file: writing over it would keep that file's permissions. */
export function writeJoinFile(path: string, join: JoinFile): void {
  try {
    writeFileSync(path, `${JSON.stringify(join, null, 2)}\n`, {flag: 'wx', mode: 0o600})
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new UserError(`${path} exists`, {suggestion: 'give --out a new file name'})
    throw error
  }
}

export function readJoinFile(path: string): JoinFile {
  let parsed: Partial<JoinFile>
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<JoinFile>
  } catch (error) {
    throw new UserError(`cannot read the join file ${path}: ${(error as Error).message}`, {
      suggestion: 'make one on the host that runs etcd with `highway join-file --out FILE`',
    })
  }
  const bad = (what: string) =>
    new UserError(`${path} is not a highway join file (${what})`, {suggestion: 'make one on the host that runs etcd with `highway join-file --out FILE`'})
  if (!parsed || typeof parsed !== 'object' || parsed.highwayJoin !== 1) throw bad('no highwayJoin: 1')
  if (typeof parsed.hostId !== 'string' || !HOST_ID.test(parsed.hostId)) throw bad('hostId')
  if (
    !Array.isArray(parsed.endpoints) ||
    parsed.endpoints.length === 0 ||
    !parsed.endpoints.every((e) => typeof e === 'string' && /^https:\/\/[^\s/]+$/.test(e))
  ) {
    throw bad('endpoints')
  }
  for (const field of ['ca', 'cert', 'key'] as const) if (typeof parsed[field] !== 'string' || !parsed[field].includes('-----BEGIN ')) throw bad(field)
  const join = parsed as JoinFile
  if (!issuedBy(join.cert, join.ca) || subjectOf(join.cert).commonName !== hostUser(join.hostId))
    throw bad('its certificate is not host-<hostId> signed by its CA')
  if (join.member !== undefined) {
    const {member} = join
    const pem = (value: unknown) => typeof value === 'string' && value.includes('-----BEGIN ')
    if (!member || typeof member !== 'object' || typeof member.advertiseIp !== 'string' || !isIPv4(member.advertiseIp)) throw bad('member.advertiseIp')
    for (const part of ['etcd', 'root'] as const) {
      if (!member[part] || !pem(member[part].cert) || !pem(member[part].key) || !issuedBy(member[part].cert, join.ca)) throw bad(`member.${part}`)
    }
    if (subjectOf(member.root.cert).commonName !== ROOT_USER || !subjectOf(member.etcd.cert).ips.includes(member.advertiseIp)) {
      throw bad('its member certificates are not root and etcd on member.advertiseIp')
    }
  }
  return join
}

/** Keeps what a join file gives, and drops a CA of this host's own: this host now trusts the other's. */
export function storeJoin(store: PkiStore, join: JoinFile): void {
  for (const name of ['ca', 'etcd', 'root'] as const) store.remove(name)
  store.write('ca', {cert: join.ca})
  store.write('host', {cert: join.cert, key: join.key})
  if (join.member) {
    store.write('etcd', join.member.etcd)
    store.write('root', join.member.root)
  }
}
