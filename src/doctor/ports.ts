/**
 * Who holds a port highway needs on the bridge address, when highway's own component does not run:
 * a container Docker knows of, else a host process as `ss` (iproute2) reports it. A listener on the
 * wildcard address holds the port on every address, the bridge's included.
 */
import {runProcess} from '../core/process.js'
import {displayName} from '../docker/client.js'
import type {DockerClient} from '../docker/types.js'
import {WILDCARD_ADDRESSES, containerOnPort} from '../infra/containers.js'

export interface PortHolder {
  /** "container web (nginx)" or "dnsmasq (pid 812)". */
  description: string
  /** The exact command that frees the port. */
  release: string
}

export interface Listener {
  address: string
  port: number
  processes: Array<{name: string; pid: number}>
}

/** Parses `ss -H -l -n -p` lines: "UNCONN 0 0 172.17.0.1:53 0.0.0.0:* users:(("dnsmasq",pid=812,fd=4))". */
export function parseListeners(output: string): Listener[] {
  const listeners: Listener[] = []
  for (const line of output.split('\n')) {
    const fields = line.trim().split(/\s+/)
    if (fields.length < 5) continue
    const local = fields[3]
    const colon = local.lastIndexOf(':')
    const port = Number(local.slice(colon + 1))
    if (colon < 0 || !Number.isInteger(port)) continue
    // ss writes an interface-bound address as "127.0.0.53%lo".
    const address = local.slice(0, colon).replace(/%.*$/, '')
    const processes = [...line.matchAll(/\("([^"]+)",pid=(\d+)/g)].map((match) => ({name: match[1], pid: Number(match[2])}))
    listeners.push({address, port, processes})
  }
  return listeners
}

/** The listeners in `listeners` that keep anyone else from binding `address:port`. */
export function blocking(listeners: Listener[], address: string, port: number): Listener[] {
  return listeners.filter((listener) => listener.port === port && (listener.address === address || WILDCARD_ADDRESSES.has(listener.address)))
}

export async function findPortHolder(docker: DockerClient, address: string, port: number, protocol: 'tcp' | 'udp'): Promise<PortHolder | null> {
  const container = await containerOnPort(docker, address, port, protocol)
  if (container) return {description: `container ${displayName(container)} (${container.Image})`, release: `docker stop ${displayName(container)}`}
  const ss = await runProcess('ss', ['-H', '-l', '-n', '-p', protocol === 'udp' ? '-u' : '-t'])
  if (ss.code !== 0) return null
  // docker-proxy holds ports for containers, which were looked for above.
  const holders = blocking(parseListeners(ss.stdout), address, port).filter(
    (listener) => !listener.processes.some((process) => process.name === 'docker-proxy'),
  )
  if (holders.length === 0) return null
  const processes = holders.flatMap((listener) => listener.processes)
  const where = holders.map((listener) => `${listener.address}:${port}`).join(', ')
  if (processes.length === 0) return {description: `a process on ${where} that ss cannot name (run doctor as root)`, release: `sudo ss -lnp 'sport = :${port}'`}
  const pids = [...new Set(processes.map((process) => process.pid))]
  return {
    description: `${[...new Set(processes.map((process) => `${process.name} (pid ${process.pid})`))].join(', ')} on ${where}`,
    release: `kill ${pids.join(' ')}`,
  }
}
