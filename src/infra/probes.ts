import {promises as dns} from 'node:dns'
import {request} from 'node:http'
import {HIGHWAY_HEADER} from '../proxy/haproxy.js'
import {PORTS} from '../core/types.js'

/**
 * One real request per hop, the way a user's client would make it. Each returns a short
 * description of what it saw, or throws saying what failed; `waitFor` turns them into readiness checks.
 */
export interface HttpAnswer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

export function httpGet(address: string, port: number, host: string, path = '/', timeoutMs = 2000): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({agent: false, headers: {host}, host: address, method: 'GET', path, port, timeout: timeoutMs}, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => (body += chunk))
      res.on('end', () => resolve({body, headers: res.headers, status: res.statusCode ?? 0}))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`no answer from ${address}:${port} within ${timeoutMs} ms`)))
    req.on('error', reject)
    req.end()
  })
}

export async function probeEtcd(url: string): Promise<string> {
  const response = await fetch(`${url}/health`, {signal: AbortSignal.timeout(2000)})
  const body = (await response.json()) as {health?: string; reason?: string}
  if (body.health !== 'true') throw new Error(`etcd reports unhealthy${body.reason ? `: ${body.reason}` : ''}`)
  return 'healthy'
}

/** The proxy is up when an unknown name gets highway's own 404 page. */
export async function probeProxy(bridgeIp: string): Promise<string> {
  const answer = await httpGet(bridgeIp, PORTS.http, 'highway-probe.invalid')
  if (answer.status !== 404 || answer.headers[HIGHWAY_HEADER] !== 'not-found') {
    throw new Error(`unexpected answer ${answer.status} from ${bridgeIp}:${PORTS.http}`)
  }
  return 'answering'
}

export async function probeDns(bridgeIp: string, domain: string): Promise<string> {
  const resolver = new dns.Resolver({timeout: 1000, tries: 1})
  resolver.setServers([bridgeIp])
  const name = `highway-probe.${domain}`
  const addresses = await resolver.resolve4(name)
  if (!addresses.includes(bridgeIp)) throw new Error(`${name} resolved to ${addresses.join(', ')}, not ${bridgeIp}`)
  return 'answering'
}
