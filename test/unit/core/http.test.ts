import {createServer as createHttpServer} from 'node:http'
import {mkdtempSync} from 'node:fs'
import {createServer, type AddressInfo, type Server, type Socket} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {httpGetSocket, httpHeaders} from '../../../src/core/http.js'

const servers: Server[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))))
})

async function listen(server: Server): Promise<number> {
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

/** A server that answers every connection with `answer` (or nothing), then does what `after` says; not yet listening. */
function answering(answer: string | null, after: 'end' | 'hold'): Server {
  const sockets: Socket[] = []
  const server = createServer((socket) => {
    sockets.push(socket)
    socket.once('data', () => {
      if (answer !== null) socket.write(answer)
      if (after === 'end') socket.end()
    })
  })
  server.on('close', () => sockets.forEach((socket) => socket.destroy()))
  return server
}

/** `answering` on a TCP port of loopback; its port. */
const rawServer = (answer: string | null, after: 'end' | 'hold' = 'end'): Promise<number> => listen(answering(answer, after))

describe('httpHeaders', () => {
  it('sends the Host header and reads the status and headers of a real HTTP server, names in lower case', async () => {
    const seen: Array<string | undefined> = []
    const port = await listen(
      createHttpServer((req, res) => {
        seen.push(req.headers.host, req.url)
        res.writeHead(404, {'X-Highway': 'not-found'})
        // A body longer than one read: only the headers are waited for.
        res.end('x'.repeat(200_000))
      }),
    )
    expect(await httpHeaders('127.0.0.1', port, 'api.local', '/health')).toEqual({
      headers: expect.objectContaining({'x-highway': 'not-found'}),
      status: 404,
    })
    expect(seen).toEqual(['api.local', '/health'])
  })

  it('reads headers that arrive split across packets', async () => {
    const sockets: Socket[] = []
    const port = await listen(
      createServer((socket) => {
        sockets.push(socket)
        socket.once('data', () => {
          socket.write('HTTP/1.1 200 OK\r\nX-Highway: st')
          setTimeout(() => socket.end('opped\r\n\r\n'), 20)
        })
      }),
    )
    expect(await httpHeaders('127.0.0.1', port, 'api.local')).toEqual({headers: {'x-highway': 'stopped'}, status: 200})
  })

  it('rejects what is not an HTTP answer, a connection closed before the headers end, and silence', async () => {
    await expect(httpHeaders('127.0.0.1', await rawServer('SSH-2.0-OpenSSH\r\n\r\n'), 'api.local')).rejects.toThrow(
      /not an HTTP answer from 127\.0\.0\.1:\d+: "SSH-2\.0/,
    )
    await expect(httpHeaders('127.0.0.1', await rawServer('HTTP/1.1 200 OK\r\n'), 'api.local')).rejects.toThrow(
      /closed the connection before its answer's headers/,
    )
    await expect(httpHeaders('127.0.0.1', await rawServer(null, 'hold'), 'api.local', '/', 100)).rejects.toThrow(
      /no answer from 127\.0\.0\.1:\d+ within 100 ms/,
    )
  })

  it('gives up on headers that never end (a routed container is polled too) at 64 KiB, before its deadline', async () => {
    const endless = `HTTP/1.1 200 OK\r\n${'X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n'.repeat(3000)}`
    await expect(httpHeaders('127.0.0.1', await rawServer(endless, 'hold'), 'api.local', '/', 10_000)).rejects.toThrow(/no end of headers in 64 KiB/)
  })

  it('rejects a refused connection with its error', async () => {
    const port = await rawServer(null)
    await new Promise((resolve) => servers.pop()!.close(resolve))
    await expect(httpHeaders('127.0.0.1', port, 'api.local')).rejects.toThrow(/ECONNREFUSED/)
  })

  it('never puts a host or path with white space or NUL into the request line', async () => {
    const port = await rawServer('HTTP/1.1 200 OK\r\n\r\n')
    await expect(httpHeaders('127.0.0.1', port, 'api.local\r\nX-Injected: 1')).rejects.toThrow(/not a host and path/)
    await expect(httpHeaders('127.0.0.1', port, 'api.local', '/ HTTP/1.0')).rejects.toThrow(/not a host and path/)
  })
})

describe('httpGetSocket', () => {
  const dir = mkdtempSync(join(tmpdir(), 'highway-http-'))
  let sockets = 0

  /** `server` listening on a unix socket of its own, as the Docker engine does; its path. */
  async function onSocket(server: Server): Promise<string> {
    const path = join(dir, `${++sockets}.sock`)
    servers.push(server)
    await new Promise<void>((resolve) => server.listen(path, resolve))
    return path
  }

  /** `answering` on a unix socket; its path. */
  const rawSocketServer = (answer: string | null, after: 'end' | 'hold' = 'end'): Promise<string> => onSocket(answering(answer, after))

  it('reads a whole answer from a real HTTP server, status, headers and a body longer than one read, in UTF-8', async () => {
    const seen: Array<string | undefined> = []
    const body = JSON.stringify([{Names: ['/caf\u00e9'], Labels: {note: 'x'.repeat(300_000)}}])
    const path = await onSocket(
      createHttpServer((req, res) => {
        seen.push(req.httpVersion, req.url)
        res.writeHead(200, {'Api-Version': '1.41', 'Content-Type': 'application/json'})
        // No length given: to an HTTP/1.0 request node, like the engine's Go server, ends the body by closing.
        res.end(body)
      }),
    )
    const answer = await httpGetSocket(path, '/v1.41/containers/json?all=1')
    expect([answer.status, answer.headers['api-version'], answer.body === body]).toEqual([200, '1.41', true])
    expect(seen).toEqual(['1.0', '/v1.41/containers/json?all=1'])
  })

  it('reads a chunked body, and refuses one cut short, by its chunks or by its length', async () => {
    const chunked = await rawSocketServer('HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"mes\r\n10\r\nsage":"no such"}\r\n0\r\n\r\n')
    expect(await httpGetSocket(chunked, '/_ping')).toMatchObject({body: '{"message":"no such"}', status: 404})
    const cut = await rawSocketServer('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{"mes')
    await expect(httpGetSocket(cut, '/_ping')).rejects.toThrow(/is not a whole chunked body/)
    const short = await rawSocketServer('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nOK')
    await expect(httpGetSocket(short, '/_ping')).rejects.toThrow(/ended after 2 of 10 bytes/)
  })

  it('rejects what is not an HTTP answer, a connection closed before the headers end, silence and no socket', async () => {
    await expect(httpGetSocket(await rawSocketServer('SSH-2.0-OpenSSH\r\n\r\n'), '/_ping')).rejects.toThrow(/not an HTTP answer from .*\.sock: "SSH-2\.0/)
    await expect(httpGetSocket(await rawSocketServer('HTTP/1.1 200 OK\r\n'), '/_ping')).rejects.toThrow(/closed the connection before its answer's headers/)
    await expect(httpGetSocket(await rawSocketServer(null, 'hold'), '/_ping', 100)).rejects.toThrow(/no answer from .*\.sock within 100 ms/)
    await expect(httpGetSocket(join(dir, 'none.sock'), '/_ping')).rejects.toThrow(/ENOENT/)
  })

  it('never puts a path with white space or NUL into the request line', async () => {
    const path = await rawSocketServer('HTTP/1.1 200 OK\r\n\r\n')
    await expect(httpGetSocket(path, '/_ping HTTP/1.1\r\nX-Injected: 1')).rejects.toThrow(/not a path for a request line/)
  })
})
