import {request as plainRequest, type IncomingMessage, type RequestOptions} from 'node:http'
import {connect, type NetConnectOpts} from 'node:net'

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

/**
 * A GET over a unix socket (the Docker engine's API) on a socket of its own, in HTTP/1.0: the engine
 * then ends its answer by closing the connection instead of chunking it. `ls` and `status` ask the
 * engine at the prompt, and node:http's first request in a process took 14-16 ms where this takes 4
 * (its client is compiled on first use).
 */
export function httpGetSocket(socketPath: string, path: string, timeoutMs = 2000): Promise<HttpAnswer> {
  if (/[\s\0]/.test(path)) return Promise.reject(new Error(`not a path for a request line: ${JSON.stringify(path)}`))
  const chunks: Buffer[] = []
  return exchange({path: socketPath}, socketPath, `GET ${path} HTTP/1.0\r\nHost: localhost\r\n\r\n`, timeoutMs, {
    data: (chunk) => void chunks.push(chunk),
    end: () => parseWhole(Buffer.concat(chunks), socketPath),
  })
}

/** A whole answer, read to the connection's end: its body as a length, chunks or everything after the headers say. */
function parseWhole(raw: Buffer, where: string): HttpAnswer | Error {
  const end = raw.indexOf('\r\n\r\n')
  if (end < 0) return new Error(`${where} closed the connection before its answer's headers`)
  const head = parseHead(raw.subarray(0, end).toString('latin1'), where)
  if (head instanceof Error) return head
  let body: Buffer | Error = raw.subarray(end + 4)
  const length = head.headers['content-length']
  if (/\bchunked\b/i.test(head.headers['transfer-encoding'] ?? '')) body = unchunk(body, where)
  else if (length !== undefined && body.length < Number(length)) body = new Error(`answer from ${where} ended after ${body.length} of ${length} bytes`)
  return body instanceof Error ? body : {body: body.toString('utf8'), headers: head.headers, status: head.status}
}

/** A chunked body (RFC 9112 7.1), for an engine, or a proxy in front of it, that chunks even for HTTP/1.0. */
function unchunk(data: Buffer, where: string): Buffer | Error {
  const parts: Buffer[] = []
  for (let at = 0; ;) {
    const lineEnd = data.indexOf('\r\n', at)
    const size = lineEnd < 0 ? Number.NaN : Number.parseInt(data.subarray(at, lineEnd).toString('latin1'), 16)
    if (Number.isNaN(size) || size < 0) return new Error(`answer from ${where} is not a whole chunked body`)
    if (size === 0) return Buffer.concat(parts)
    at = lineEnd + 2 + size + 2
    if (at > data.length) return new Error(`answer from ${where} is not a whole chunked body`)
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size))
  }
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

/** What `httpHeaders` reads of an answer: its status and headers (names in lower case), not its body. */
export interface HttpHead {
  status: number
  headers: Record<string, string>
}

/**
 * A GET that reads the answer's status line and headers and closes the connection: how highway asks
 * its own proxy whether a name is routed. It costs a socket and a string, where node:http's first
 * request in a process takes about 5 ms more (its client is compiled on first use), and `highway run`
 * asks this before and after `docker run`, at the prompt. Not for answers whose body matters.
 */
export function httpHeaders(address: string, port: number, host: string, path = '/', timeoutMs = 2000): Promise<HttpHead> {
  if (/[\s\0]/.test(host + path)) return Promise.reject(new Error(`not a host and path for a request line: ${JSON.stringify(host + path)}`))
  const where = `${address}:${port}`
  let received = ''
  return exchange({host: address, port}, where, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`, timeoutMs, {
    data: (chunk) => {
      received += chunk.toString('latin1')
      const end = received.indexOf('\r\n\r\n')
      if (end >= 0) return parseHead(received.slice(0, end), where)
      if (received.length > 65_536) return new Error(`answer from ${where} has no end of headers in 64 KiB`)
      return undefined
    },
    end: () => new Error(`${where} closed the connection before its answer's headers`),
  })
}

/**
 * One request on a socket of its own, for the two GETs above: `data` sees each chunk and settles the
 * answer by returning it (or an Error), `end` when the other side has closed; a deadline, a socket
 * error or a close before either settles it otherwise. The socket is destroyed once it is settled.
 */
function exchange<T>(
  target: NetConnectOpts,
  where: string,
  request: string,
  timeoutMs: number,
  read: {data: (chunk: Buffer) => T | Error | undefined; end: () => T | Error},
): Promise<T> {
  return new Promise((resolve, reject) => {
    const socket = connect(target)
    let settled = false
    const settle = (outcome: T | Error | undefined) => {
      if (settled || outcome === undefined) return
      settled = true
      clearTimeout(deadline)
      socket.destroy()
      if (outcome instanceof Error) reject(outcome)
      else resolve(outcome)
    }
    const deadline = setTimeout(() => settle(new Error(`no answer from ${where} within ${timeoutMs} ms`)), timeoutMs)
    socket.on('connect', () => socket.write(request))
    socket.on('data', (chunk: Buffer) => settle(read.data(chunk)))
    socket.on('end', () => settle(read.end()))
    socket.on('error', settle)
    socket.on('close', () => settle(new Error(`${where} closed the connection before its answer ended`)))
  })
}

function parseHead(head: string, where: string): HttpHead | Error {
  const [statusLine = '', ...lines] = head.split('\r\n')
  const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(statusLine)?.[1]
  if (!status) return new Error(`not an HTTP answer from ${where}: ${JSON.stringify(statusLine.slice(0, 80))}`)
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  return {headers, status: Number(status)}
}
