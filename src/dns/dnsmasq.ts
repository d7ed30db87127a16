import {INFRA_PORTS} from '../core/types.js'
import {assertDomain, assertIPv4} from '../core/validate.js'

/** Where the container keeps the host's servers, less highway's own address (see dnsCommand). */
export const UPSTREAM_FILE = '/tmp/highway-upstream.conf'

export interface DnsInput {
  domain: string
  bridgeIp: string
  /** Servers for every other name; empty: the container's resolv.conf, which Docker fills from the host's. */
  upstreams: string[]
  /** Where the host reaches highway when the bridge is out of its reach ('' or absent: it is not). */
  hostIp?: string
  /**
   * The agent's hosts files: each name's own address (TCP by name), answered before the domain-wide
   * bridge address and re-read by dnsmasq whenever they change. Absent: every name answers the bridge.
   */
  hostsDir?: string
}

/**
 * The container port of the second dnsmasq, the host's: published on the host-side address, it
 * answers that address, so the host is sent where it can connect and containers to the bridge.
 */
export const HOST_DNS_CONTAINER_PORT = 1053

/**
 * dnsmasq's command line: every name under the domain answers with the bridge IP (the proxy is
 * there); other names are forwarded. `--local-service` refuses queries from outside the local
 * subnet, so even a mistakenly exposed port never makes an open resolver.
 */
export function dnsmasqArgs(input: DnsInput): string[] {
  const domain = assertDomain(input.domain)
  const ip = assertIPv4(input.bridgeIp, 'bridge IP')
  const upstreams = input.upstreams.map((server) => assertIPv4(server, 'upstream DNS server'))
  return [
    'dnsmasq',
    '--keep-in-foreground',
    '--log-facility=-',
    '--user=root',
    `--port=${INFRA_PORTS.dns}`,
    '--local-service',
    '--no-hosts',
    '--domain-needed',
    '--cache-size=1000',
    `--address=/${domain}/${ip}`,
    // --no-hosts skips only /etc/hosts; names in this directory override the --address above.
    ...(input.hostsDir ? [`--hostsdir=${input.hostsDir}`] : []),
    // Since dnsmasq 2.86 --address answers only A: without this, AAAA for a service name is forwarded
    // upstream, and a client asking for both (busybox wget, glibc) waits for that answer.
    `--local=/${domain}/`,
    // A forwarding loop (an upstream that sends queries back here) is detected and that server dropped.
    '--dns-loop-detect',
    ...(upstreams.length > 0 ? ['--no-resolv', ...upstreams.map((server) => `--server=${server}`)] : [`--resolv-file=${UPSTREAM_FILE}`]),
  ]
}

/**
 * The DNS container's command. Docker copies the host's resolv.conf into the container; after
 * `dns-setup` on a plain resolv.conf that file names highway's own address first, and dnsmasq
 * would forward every other name to itself. So that address is filtered out before dnsmasq starts.
 */
export function dnsCommand(input: DnsInput): string[] {
  const args = dnsmasqArgs(input)
  if (input.upstreams.length > 0 && !input.hostIp) return args
  const own = [input.bridgeIp, ...(input.hostIp ? [input.hostIp] : [])].map((ip) => `'^nameserver[[:space:]]*${ip.replaceAll('.', '\\.')}[[:space:]]*$'`)
  // One pattern written as before host-side addresses existed, so an existing DNS container's spec (and hash) stays the same.
  const patterns = own.length === 1 ? own[0] : own.map((pattern) => `-e ${pattern}`).join(' ')
  const upstreamFile = input.upstreams.length > 0 ? '' : `grep -v ${patterns} /etc/resolv.conf > ${UPSTREAM_FILE}; `
  // The host's instance runs beside the containers' one; dnsmasqArgs validated every word, so quoting each is enough.
  const hostInstance = input.hostIp
    ? `${dnsmasqArgs({...input, bridgeIp: input.hostIp, hostsDir: undefined})
        .map((arg) => (arg === `--port=${INFRA_PORTS.dns}` ? `--port=${HOST_DNS_CONTAINER_PORT}` : arg))
        .map((arg) => `'${arg}'`)
        .join(' ')} & `
    : ''
  return ['sh', '-c', `${upstreamFile}${hostInstance}exec "$@"`, 'dns', ...args]
}
