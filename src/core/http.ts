import {request as plainRequest, type IncomingMessage, type RequestOptions} from 'node:http'

/**
 * One HTTP GET, the way a user's client would make it, with a deadline that keeps the process alive
 * while it runs. Not fetch: a fetch to a port that refuses can stay unsettled with nothing on the
 * event loop (its AbortSignal.timeout timer is unref'd), and Node then exits mid-wait with code 13.
 */
export interface HttpAnswer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

/** HTTPS with a client certificate: the CA to trust, this client's certificate and key, the server's name to check. */
export interface ClientTls {
  ca: string
  cert: string
  key: string
  servername: string
}

export function httpGet(address: string, port: number, host: string, path = '/', timeoutMs = 2000, tls?: ClientTls): Promise<HttpAnswer> {
  return get({headers: {host}, host: address, path, port}, `${address}:${port}`, timeoutMs, tls)
}

/** The same GET over a unix socket (the Docker engine's API). */
export function httpGetSocket(socketPath: string, path: string, timeoutMs = 2000): Promise<HttpAnswer> {
  return get({path, socketPath}, socketPath, timeoutMs)
}

async function get(target: RequestOptions, where: string, timeoutMs: number, tls?: ClientTls): Promise<HttpAnswer> {
  // Loaded only for HTTPS: `highway run` asks the proxy over plain HTTP and must not pay for TLS at start-up.
  const tlsRequest = tls ? (await import('node:https')).request : undefined
  return new Promise((resolve, reject) => {
    const options = {agent: false as const, method: 'GET', ...target}
    const onResponse = (res: IncomingMessage) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => (body += chunk))
      res.on('end', () => {
        clearTimeout(deadline)
        resolve({body, headers: res.headers, status: res.statusCode ?? 0})
      })
      res.on('error', reject)
    }
    const req = tls && tlsRequest ? tlsRequest({...options, ...tls}, onResponse) : plainRequest(options, onResponse)
    const deadline = setTimeout(() => req.destroy(new Error(`no answer from ${where} within ${timeoutMs} ms`)), timeoutMs)
    req.on('error', (error) => {
      clearTimeout(deadline)
      reject(error)
    })
    req.end()
  })
}
