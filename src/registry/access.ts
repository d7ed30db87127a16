import {ROOT, hostPrefix} from './schema.js'

/**
 * Who may do what in etcd, once its auth is on. The user is the client certificate's CN (etcd's
 * --client-cert-auth); passwords are never used.
 *
 *   root          role root: everything. Only `up` (bootstrapping) and `join-file` (adding a host) use it.
 *   host-<id>     role host-<id>: read-write on /highway/v2/hosts/<id>/ (its records and its agent's
 *                 report), read on /highway/v2/ (every host's records: what its proxy renders).
 */
export const ROOT_USER = 'root'

export function hostUser(hostId: string): string {
  return `host-${hostId}`
}

export interface Grant {
  permission: 'Read' | 'Readwrite'
  prefix: string
}

/** A host's role: its own range to write, the whole tree to read. */
export function hostGrants(hostId: string): Grant[] {
  return [
    {permission: 'Readwrite', prefix: hostPrefix(hostId)},
    {permission: 'Read', prefix: ROOT},
  ]
}
