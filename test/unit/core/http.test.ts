import {createServer as createHttpServer} from 'node:http'
import {createServer, type AddressInfo, type Server, type Socket} from 'node:net'
import {afterEach, describe, expect, it} from 'vitest'
import {httpHeaders} from '../../../src/core/http.js'

const servers: Server[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))))
})

async function listen(server: Server): Promise<number> {
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

/** A TCP server that answers every connection with `answer` (or nothing), then does what `after` says. */
function rawServer(answer: string | null, after: 'end' | 'hold' = 'end'): Promise<number> {
  const sockets: Socket[] = []
  const server = createServer((socket) => {
    sockets.push(socket)
    socket.once('data', () => {
      if (answer !== null) socket.write(answer)
      if (after === 'end') socket.end()
    })
  })
  server.on('close', () => sockets.forEach((socket) => socket.destroy()))
  return listen(server)
}

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
