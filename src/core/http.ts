import {request} from 'node:http'

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

export function httpGet(address: string, port: number, host: string, path = '/', timeoutMs = 2000): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({agent: false, headers: {host}, host: address, method: 'GET', path, port}, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => (body += chunk))
      res.on('end', () => {
        clearTimeout(deadline)
        resolve({body, headers: res.headers, status: res.statusCode ?? 0})
      })
      res.on('error', reject)
    })
    const deadline = setTimeout(() => req.destroy(new Error(`no answer from ${address}:${port} within ${timeoutMs} ms`)), timeoutMs)
    req.on('error', (error) => {
      clearTimeout(deadline)
      reject(error)
    })
    req.end()
  })
}
