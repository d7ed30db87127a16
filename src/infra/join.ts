import {existsSync} from 'node:fs'
import type {Clients} from '../clients.js'
import {UserError} from '../core/errors.js'
import {loadSettings, newHostId} from '../core/settings.js'
import {INFRA_PORTS} from '../core/types.js'
import {hostUser} from '../registry/access.js'
import {PkiStore} from '../registry/pki.js'
import {makeJoinFile, writeJoinFile} from '../registry/provision.js'
import {unreachable} from '../registry/registry.js'

export interface JoinFileResult {
  path: string
  hostId: string
  user: string
  endpoints: string[]
}

/**
 * `highway join-file`: on the host that runs etcd, a new host id, its etcd role and user, and one
 * file (0600) that `highway up --join` on the other host reads. The role exists before the file does,
 * so a file in hand always works.
 */
export async function runJoinFile(clients: Clients, path: string): Promise<JoinFileResult> {
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
  if (existsSync(path)) throw new UserError(`${path} exists`, {suggestion: 'give --out a new file name'})
  const store = PkiStore.of(clients.env)
  const hostId = newHostId()
  const endpoints = [`https://${settings.advertiseIp}:${INFRA_PORTS.etcd}`]
  const join = await makeJoinFile(store, {endpoints, hostId})
  const admin = clients.admin(settings)
  await admin.grantHosts([hostId]).catch((error: unknown) => {
    throw unreachable(admin.endpoints, error)
  })
  writeJoinFile(path, join)
  return {endpoints, hostId, path, user: hostUser(hostId)}
}
