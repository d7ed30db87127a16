import type {Settings} from '../core/types.js'
import type {Status} from '../infra/status.js'
import {shown} from '../registry/schema.js'
import type {ServiceRow} from '../service/list.js'
import {colour, table} from './output.js'

/**
 * What `ls` and `status` print for people, line by line: one function each, called by the oclif
 * commands and by cli/lean.ts alike, so the two paths cannot drift apart.
 */

/** Keys and reasons come from etcd: anything but plain printable text is shown escaped. */
const printable = (text: string) => (/^[\x20-\x7e]*$/.test(text) ? text : shown(text, 160))

export function lsLines(rows: ServiceRow[]): string[] {
  if (rows.length === 0) return ['no services registered; start one with `highway run -d --name api -p 9090 IMAGE`']
  const state = (row: ServiceRow) =>
    row.problem
      ? colour.yellow(`${row.state} (${row.problem})`)
      : row.state === 'running'
        ? colour.green(row.role === 'replica' ? `${row.state} (replica of ${row.owner})` : row.state)
        : colour.red(row.state)
  const services = rows.filter((row) => row.state !== 'invalid')
  const invalid = rows.filter((row) => row.state === 'invalid')
  const lines: string[] = []
  if (services.length > 0) {
    lines.push(
      table(
        ['NAME', 'URL', 'TCP', 'BACKEND', 'CONTAINER', 'HOST', 'STATE'],
        services.map((row) => [row.name, row.url, row.tcp.join(',') || '-', row.backend, row.container, row.host, state(row)]),
      ),
    )
  }
  if (invalid.length > 0) {
    if (services.length > 0) lines.push('')
    lines.push(colour.yellow(`${invalid.length} invalid record(s) in etcd, skipped by the proxy:`))
    lines.push(
      table(
        ['KEY', 'PROBLEM'],
        invalid.map((row) => [printable(row.key ?? '-'), colour.red(printable(row.problem ?? ''))]),
      ),
    )
  }
  return lines
}

export function statusLines(settings: Settings, status: Status): string[] {
  const lines = [
    `domain ${settings.domain}, bridge ${settings.bridgeIp || '(not set: run highway up)'}`,
    table(
      ['COMPONENT', 'STATE', 'HEALTH', 'ADDRESS', 'IMAGE'],
      status.components.map((component) => [
        component.component,
        component.state,
        component.ok ? colour.green(component.health) : colour.red(component.health),
        component.address,
        component.image ?? '-',
      ]),
    ),
  ]
  if (status.cluster) {
    const {lease, members} = status.cluster
    lines.push(
      `\netcd cluster: ${members.length} member${members.length === 1 ? '' : 's'}, ` +
        `leader ${members.find((member) => member.leader)?.name || 'none'}; this host (${status.hostId}${status.advertiseIp ? ` on ${status.advertiseIp}` : ''}): ` +
        `TTL ${status.leaseTtl} s, ` +
        (lease ? `etcd lease ${lease.id}: ${lease.ttl} s left of ${lease.grantedTtl} s` : colour.red('no lease (its agent holds no records)')),
      table(
        ['MEMBER', 'ROLE', 'HEALTH', 'CLIENT', 'PEER'],
        members.map((member) => [
          member.name || '(not started)',
          member.leader ? 'leader' : member.learner ? 'learner' : 'follower',
          member.ok ? colour.green(member.health) : colour.red(member.health),
          member.clientUrls.join(','),
          member.peerUrls.join(','),
        ]),
      ),
    )
  }
  return lines
}
