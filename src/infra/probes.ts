import {httpGet} from '../core/http.js'
import {promises as dns} from 'node:dns'
import {ETCD_SERVER_NAME, type TlsIdentity} from '../registry/pki.js'

/**
 * One real request to etcd and to the DNS server, the way a client would make it (the proxy's is
 * in proxy/client.ts). Each returns a short description of what it saw, or throws saying what
 * failed; `waitFor` turns them into readiness checks.
 */
export async function probeEtcd(url: string, tls?: TlsIdentity | null): Promise<string> {
  const {host, hostname, port, protocol} = new URL(url)
  if (protocol === 'https:' && !tls) throw new Error('no client certificate for the registry on this host')
  const clientTls = protocol === 'https:' && tls ? {ca: tls.ca, cert: tls.cert, key: tls.key, servername: ETCD_SERVER_NAME} : undefined
  const answer = await httpGet(hostname, Number(port), host, '/health', 2000, clientTls)
  let body: {health?: string; reason?: string}
  try {
    body = JSON.parse(answer.body) as {health?: string; reason?: string}
  } catch {
    throw new Error(`etcd answered ${answer.status}: ${answer.body.slice(0, 100)}`)
  }
  if (body.health !== 'true') throw new Error(`etcd reports unhealthy${body.reason ? `: ${body.reason}` : ''}`)
  return 'healthy'
}

export async function probeDns(bridgeIp: string, domain: string): Promise<string> {
  const resolver = new dns.Resolver({timeout: 1000, tries: 1})
  resolver.setServers([bridgeIp])
  const name = `highway-probe.${domain}`
  const addresses = await resolver.resolve4(name)
  if (!addresses.includes(bridgeIp)) throw new Error(`${name} resolved to ${addresses.join(', ')}, not ${bridgeIp}`)
  return 'answering'
}
