import {promises as dns} from 'node:dns'
import {get} from 'node:https'
import {ETCD_SERVER_NAME, type TlsIdentity} from '../registry/pki.js'

/**
 * One real request to etcd and to the DNS server, the way a client would make it (the proxy's is
 * in proxy/client.ts). Each returns a short description of what it saw, or throws saying what
 * failed; `waitFor` turns them into readiness checks.
 */
export async function probeEtcd(url: string, tls?: TlsIdentity | null): Promise<string> {
  const body = (
    url.startsWith('https:') ? await httpsJson(`${url}/health`, tls) : await (await fetch(`${url}/health`, {signal: AbortSignal.timeout(2000)})).json()
  ) as {
    health?: string
    reason?: string
  }
  if (body.health !== 'true') throw new Error(`etcd reports unhealthy${body.reason ? `: ${body.reason}` : ''}`)
  return 'healthy'
}

/** GET with a client certificate (etcd asks every client for one); fetch cannot present one. */
function httpsJson(url: string, tls: TlsIdentity | null | undefined): Promise<unknown> {
  if (!tls) return Promise.reject(new Error('no client certificate for the registry on this host'))
  return new Promise((resolve, reject) => {
    const request = get(url, {ca: tls.ca, cert: tls.cert, key: tls.key, servername: ETCD_SERVER_NAME, timeout: 2000}, (response) => {
      let text = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (text += chunk))
      response.on('end', () => {
        try {
          resolve(JSON.parse(text))
        } catch {
          reject(new Error(`etcd answered ${response.statusCode}: ${text.slice(0, 100)}`))
        }
      })
      response.on('error', reject)
    })
    request.on('timeout', () => request.destroy(new Error('no answer within 2 s')))
    request.on('error', reject)
  })
}

export async function probeDns(bridgeIp: string, domain: string): Promise<string> {
  const resolver = new dns.Resolver({timeout: 1000, tries: 1})
  resolver.setServers([bridgeIp])
  const name = `highway-probe.${domain}`
  const addresses = await resolver.resolve4(name)
  if (!addresses.includes(bridgeIp)) throw new Error(`${name} resolved to ${addresses.join(', ')}, not ${bridgeIp}`)
  return 'answering'
}
