import {PORTS} from '../core/types.js'
import {assertDomain, assertIPv4} from '../core/validate.js'

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
    `--port=${PORTS.dns}`,
    '--local-service',
    '--no-hosts',
    '--domain-needed',
    '--cache-size=1000',
    `--address=/${domain}/${ip}`,
    ...(upstreams.length > 0 ? ['--no-resolv', ...upstreams.map((server) => `--server=${server}`)] : []),
  ]
}
