import {INFRA_PORTS} from '../core/types.js'
import {assertDomain, assertIPv4} from '../core/validate.js'

/** Where the container keeps the host's servers, less highway's own address (see dnsCommand). */
export const UPSTREAM_FILE = '/tmp/highway-upstream.conf'

export interface DnsInput {
  domain: string
  bridgeIp: string
  /** Servers for every other name; empty: the container's resolv.conf, which Docker fills from the host's. */
  upstreams: string[]
}

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
  if (input.upstreams.length > 0) return args
  const ip = input.bridgeIp.replaceAll('.', '\\.')
  return ['sh', '-c', `grep -v '^nameserver[[:space:]]*${ip}[[:space:]]*$' /etc/resolv.conf > ${UPSTREAM_FILE}; exec "$@"`, 'dns', ...args]
}
