import {existsSync} from 'node:fs'
import type {Clients} from '../clients.js'
import {UserError} from '../core/errors.js'
import {LOOPBACK_ETCD_URL, loadSettings, newHostId} from '../core/settings.js'
import {assertIPv4} from '../core/validate.js'
import {INFRA_PORTS} from '../core/types.js'
import {hostUser} from '../registry/access.js'
import {PkiStore} from '../registry/pki.js'
import {makeJoinFile, peerUrl, writeJoinFile} from '../registry/provision.js'
import {unreachable, type EtcdMember} from '../registry/registry.js'

export interface JoinFileResult {
  path: string
  hostId: string
  user: string
  endpoints: string[]
  /** The new host's address when it will run an etcd member too, else null (a client only). */
  member: string | null
  /** Voting members before it joins. */
  members: number
}

/** Enough members for the registry to survive losing any one host; later hosts are clients unless asked. */
export const WANTED_MEMBERS = 3

export interface JoinFileOptions {
  /** The new host's --advertise-ip: needed for it to run an etcd member (its certificate names it). */
  advertiseIp?: string
  /** A member even when the cluster has WANTED_MEMBERS already; false: a client even when it has fewer. */
  member?: boolean
}

/**
 * `highway join-file`: on the host that runs etcd, a new host id, its etcd role and user, and one
 * file (0600) that `highway up --join` on the other host reads. The role exists before the file does,
 * so a file in hand always works.
 */
export async function runJoinFile(clients: Clients, path: string, options: JoinFileOptions = {}): Promise<JoinFileResult> {
  const settings = loadSettings(clients.env)
  if (!settings.bridgeIp) throw new UserError('highway is not set up on this host', {suggestion: 'run `highway up --advertise-ip ADDRESS` first'})
  if (settings.etcdEndpoints.length > 0) {
    throw new UserError('this host uses another host’s etcd', {suggestion: 'run `highway join-file` on the host that runs etcd'})
  }
  if (!settings.advertiseIp) {
    throw new UserError('other hosts cannot reach this host’s etcd: it is published on loopback only', {
      suggestion: 'run `highway up --advertise-ip ADDRESS` (an address of this host the others reach), then this again',
    })
  }
  const memberIp = options.advertiseIp === undefined ? undefined : assertIPv4(options.advertiseIp, '--advertise-ip')
  if (options.member && !memberIp) {
    throw new UserError('an etcd member needs its address', {
      suggestion: 'give the new host’s address: `highway join-file --out FILE --advertise-ip ADDRESS --member`',
    })
  }
  if (existsSync(path)) throw new UserError(`${path} exists`, {suggestion: 'give --out a new file name'})
  const store = PkiStore.of(clients.env)
  const hostId = newHostId()
  const admin = clients.admin(settings)
  const own = peerUrl(settings.advertiseIp)
  let members: EtcdMember[]
  try {
    members = await admin.members()
  } catch (error) {
    throw unreachable(admin.endpoints, error)
  }
  if (memberIp && members.some((member) => member.peerUrls.includes(peerUrl(memberIp)))) {
    throw new UserError(`${memberIp} is an etcd member already`, {suggestion: 'give the new host’s own address, or `highway down` on the host that had it'})
  }
  const voting = members.filter((member) => !member.learner).length
  const member = memberIp && (options.member ?? voting < WANTED_MEMBERS) ? memberIp : null
  try {
    // The first member started before other hosts could join: its peer URL still names loopback, which
    // would send a new member to itself. Its peer listener is on the advertise address since that `up`.
    const first = members.find((candidate) => candidate.peerUrls.some((url) => url.startsWith('https://127.0.0.1:')))
    if (member && first && members.length === 1) await admin.updatePeerUrls(first.id, [own])
    await admin.grantHosts([hostId])
  } catch (error) {
    throw unreachable(admin.endpoints, error)
  }
  const endpoints = [...new Set(members.flatMap((candidate) => candidate.clientUrls).filter((url) => url !== LOOPBACK_ETCD_URL))]
  if (endpoints.length === 0) endpoints.push(`https://${settings.advertiseIp}:${INFRA_PORTS.etcd}`)
  const join = await makeJoinFile(store, {endpoints, hostId, memberIp: member ?? undefined})
  writeJoinFile(path, join)
  return {endpoints, hostId, member, members: voting, path, user: hostUser(hostId)}
}
