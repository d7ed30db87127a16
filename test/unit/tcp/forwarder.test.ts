// The forwarder on real sockets, on loopback addresses (127.0.0.0/8 is local without any route):
// what a connection sees when tables change under it.
import {createServer, connect, type AddressInfo, type Server, type Socket} from 'node:net'
import {afterEach, describe, expect, it} from 'vitest'
import {TcpForwarder} from '../../../src/tcp/forwarder.js'
import type {TcpTable} from '../../../src/tcp/table.js'

const servers: Server[] = []
let forwarder: TcpForwarder
const PORT = 46_379
/** Where every address serves HTTP in these tests (80 wants privileges). */
const HTTP = 46_380

afterEach(() => {
  forwarder?.close()
  for (const server of servers.splice(0)) server.close()
})

/** A backend that answers every chunk with `<tag>:<chunk>`, and says `<tag>:bye` when its client half-closes. */
async function backend(tag: string): Promise<number> {
  const server = createServer({allowHalfOpen: true}, (socket) => {
    socket.on('data', (chunk) => socket.write(`${tag}:${chunk}`))
    socket.on('end', () => socket.end(`${tag}:bye`))
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

function table(names: Array<{name: string; address: string; backends: number[]}>, proxyPort = 1): Pick<TcpTable, 'http' | 'names'> {
  return {
    http: {address: '127.0.0.1', port: proxyPort},
    names: names.map(({address, backends, name}) => ({
      address,
      name,
      ports: backends.length > 0 ? [{backends: backends.map((port, index) => ({address: '127.0.0.1', id: `b${index}`, port})), port: PORT}] : [],
    })),
  }
}

/** A client with its own buffer: `ask` writes and waits for the next chunk. */
async function client(address: string, port = PORT): Promise<{socket: Socket; ask: (text: string) => Promise<string>; rest: () => Promise<string>}> {
  const socket = connect({host: address, port})
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  return {
    ask: (text) =>
      new Promise((resolve) => {
        socket.once('data', (chunk) => resolve(String(chunk)))
        socket.write(text)
      }),
    rest: () =>
      new Promise((resolve) => {
        let text = ''
        socket.on('data', (chunk) => (text += String(chunk)))
        socket.once('end', () => resolve(text))
        socket.end()
      }),
    socket,
  }
}

function connectError(address: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({host: address, port: PORT})
    socket.once('connect', () => socket.once('close', () => resolve('closed after connect')))
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
  })
}

describe('TcpForwarder', () => {
  it('serves two names on the same port, each to its own backend, and HTTP on every address to the proxy', async () => {
    forwarder = new TcpForwarder(undefined, HTTP)
    await forwarder.apply(
      table(
        [
          {address: '127.0.0.2', backends: [await backend('a')], name: 'a'},
          {address: '127.0.0.3', backends: [await backend('b')], name: 'b'},
        ],
        await backend('proxy'),
      ),
    )
    const [a, b, http] = [await client('127.0.0.2'), await client('127.0.0.3'), await client('127.0.0.3', HTTP)]
    expect([await a.ask('hi'), await b.ask('hi'), await http.ask('GET /')]).toEqual(['a:hi', 'b:hi', 'proxy:GET /'])
    for (const session of [a, b, http]) session.socket.destroy()
  })

  it('keeps a connection through table changes: other names gone, its own backends changed, its own name gone', async () => {
    forwarder = new TcpForwarder(undefined, HTTP)
    const [a, other, a2] = [await backend('a'), await backend('other'), await backend('a2')]
    await forwarder.apply(
      table([
        {address: '127.0.0.2', backends: [a], name: 'a'},
        {address: '127.0.0.3', backends: [other], name: 'other'},
      ]),
    )
    const session = await client('127.0.0.2')
    expect(await session.ask('1')).toBe('a:1')
    await forwarder.apply(table([{address: '127.0.0.2', backends: [a2], name: 'a'}]))
    expect(await session.ask('2')).toBe('a:2')
    // A new connection goes to the new backend meanwhile.
    const fresh = await client('127.0.0.2')
    expect(await fresh.ask('x')).toBe('a2:x')
    fresh.socket.destroy()
    await forwarder.apply(table([]))
    expect(await session.ask('3')).toBe('a:3')
    // Its end is passed on as a half-close: the backend still answers after it.
    expect(await session.rest()).toBe('a:bye')
    expect(forwarder.open).toBe(0)
  })

  it('refuses a connect at once once a name has no backend, and on an address it never served', async () => {
    forwarder = new TcpForwarder(undefined, HTTP)
    await forwarder.apply(table([{address: '127.0.0.2', backends: [await backend('a')], name: 'a'}]))
    await forwarder.apply(table([{address: '127.0.0.2', backends: [], name: 'a'}]))
    expect(await connectError('127.0.0.2')).toBe('ECONNREFUSED')
    expect(await connectError('127.0.0.4')).toBe('ECONNREFUSED')
  })

  it('spreads connections over the backends in turn, skipping one that refuses', async () => {
    forwarder = new TcpForwarder(undefined, HTTP)
    const dead = await backend('dead')
    servers.at(-1)!.close()
    await forwarder.apply(table([{address: '127.0.0.2', backends: [await backend('x'), dead, await backend('y')], name: 'a'}]))
    const answers: string[] = []
    for (let index = 0; index < 3; index++) {
      const session = await client('127.0.0.2')
      answers.push(await session.ask('.'))
      session.socket.destroy()
    }
    expect(answers.sort()).toEqual(['x:.', 'y:.', 'y:.'])
  })

  it('resets the client when no backend accepts', async () => {
    forwarder = new TcpForwarder(undefined, HTTP)
    const dead = await backend('dead')
    servers.at(-1)!.close()
    await forwarder.apply(table([{address: '127.0.0.2', backends: [dead], name: 'a'}]))
    const session = await client('127.0.0.2')
    const ended = await new Promise<string>((resolve) => {
      session.socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? ''))
      session.socket.once('end', () => resolve('orderly end'))
    })
    expect(ended).toBe('ECONNRESET')
  })

  it('says why it cannot listen, and serves the other names', async () => {
    const logs: string[] = []
    forwarder = new TcpForwarder((message) => logs.push(message), HTTP)
    const blocker = createServer()
    servers.push(blocker)
    await new Promise<void>((resolve) => blocker.listen(PORT, '127.0.0.5', resolve))
    await forwarder.apply(
      table([
        {address: '127.0.0.5', backends: [await backend('taken')], name: 'taken'},
        {address: '127.0.0.2', backends: [await backend('a')], name: 'a'},
      ]),
    )
    expect(logs).toEqual([`cannot listen on 127.0.0.5:${PORT}: EADDRINUSE`])
    expect(forwarder.listening).toEqual([`127.0.0.2:${PORT}`, `127.0.0.2:${HTTP}`, `127.0.0.5:${HTTP}`])
  })
})
