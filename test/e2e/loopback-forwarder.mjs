// What Docker Desktop does for a published port (vpnkit / its port forwarder), played between two
// network namespaces of this machine: the engine's, where highway publishes on 127.0.0.1, and a
// "host" namespace of the test's own, which has only its loopback and no route to the bridge.
// Unix sockets in a shared directory carry the traffic across, as Desktop's host<->VM channel does.
//   node loopback-forwarder.mjs engine DIR   (in the engine's namespace) unix DIR/<proto>-<port>.sock -> 127.0.0.1:<port>
//   node loopback-forwarder.mjs host DIR     (in the host namespace)     127.0.0.1:<port> -> unix DIR/<proto>-<port>.sock
// One unix connection per TCP connection, and per DNS datagram (its answer comes back on it).
import dgram from 'node:dgram'
import net from 'node:net'
import {join} from 'node:path'

const [mode, dir] = process.argv.slice(2)
const TCP_PORTS = [80, 2379, 53]
const UDP_PORTS = [53]
const socket = (protocol, port) => join(dir, `${protocol}-${port}.sock`)
let listening = 0
const ready = () => {
  if (++listening === TCP_PORTS.length + UDP_PORTS.length) console.log('ready')
}

if (mode === 'engine') {
  for (const port of TCP_PORTS) {
    net
      .createServer((client) => {
        const upstream = net.connect(port, '127.0.0.1')
        client.pipe(upstream).pipe(client)
        upstream.on('error', () => client.destroy())
        client.on('error', () => upstream.destroy())
      })
      .listen(socket('tcp', port), ready)
  }
  for (const port of UDP_PORTS) {
    // Half-open: the datagram ends at the host side's end(), and the answer still goes back on the same connection.
    net
      .createServer({allowHalfOpen: true}, (client) => {
        const chunks = []
        client.on('data', (chunk) => chunks.push(chunk))
        client.on('end', () => {
          const udp = dgram.createSocket('udp4')
          const timer = setTimeout(() => {
            udp.close()
            client.destroy()
          }, 3000)
          udp.on('message', (answer) => {
            clearTimeout(timer)
            udp.close()
            client.end(answer)
          })
          udp.send(Buffer.concat(chunks), port, '127.0.0.1')
        })
        client.on('error', () => {})
      })
      .listen(socket('udp', port), ready)
  }
} else if (mode === 'host') {
  for (const port of TCP_PORTS) {
    net
      .createServer((client) => {
        const upstream = net.connect(socket('tcp', port))
        client.pipe(upstream).pipe(client)
        upstream.on('error', () => client.destroy())
        client.on('error', () => upstream.destroy())
      })
      .listen(port, '127.0.0.1', ready)
  }
  for (const port of UDP_PORTS) {
    const server = dgram.createSocket('udp4')
    server.on('message', (query, from) => {
      const upstream = net.connect(socket('udp', port))
      const chunks = []
      upstream.on('data', (chunk) => chunks.push(chunk))
      upstream.on('end', () => chunks.length > 0 && server.send(Buffer.concat(chunks), from.port, from.address))
      upstream.on('error', () => {})
      upstream.end(query)
    })
    server.bind(port, '127.0.0.1', ready)
  }
} else {
  console.error('usage: loopback-forwarder.mjs engine|host DIR')
  process.exit(2)
}
