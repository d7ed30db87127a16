// A WebSocket echo server small enough to pass to `node -e` in a container, and a client for it: no
// library (none is installed in the infrastructure image, and Node 20 has no WebSocket client without
// a flag). Text frames under 126 bytes only, which is all the tests and benchmarks send. HAProxy sees
// a real upgrade (101 Switching Protocols) and tunnels the connection from then on.
import {createHash, randomBytes} from 'node:crypto'
import {connect} from 'node:net'

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

/** `node -e` source of an echo server on `port`: plain HTTP answers "ws", upgrades echo every text frame. */
export function echoServerSource(port = 9090) {
  return [
    "const c=require('crypto'),s=require('http').createServer((q,r)=>r.end('ws'));",
    "s.on('upgrade',(q,k)=>{const a=c.createHash('sha1').update(q.headers['sec-websocket-key']+'" + GUID + "').digest('base64');",
    "k.write('HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Accept: '+a+'\\r\\n\\r\\n');",
    "let b=Buffer.alloc(0);k.on('error',()=>{});k.on('end',()=>k.end());k.on('data',d=>{b=Buffer.concat([b,d]);for(;;){if(b.length<6)break;const n=b[1]&127;if(b.length<6+n)break;",
    'const m=b.subarray(2,6),p=Buffer.from(b.subarray(6,6+n).map((x,i)=>x^m[i%4]));b=b.subarray(6+n);k.write(Buffer.concat([Buffer.from([0x81,n]),p]))}})});',
    `s.listen(${port})`,
  ].join('')
}

/**
 * Opens a WebSocket to `address:port` with Host `host`. Resolves once the server accepted the
 * upgrade, with `send(text)` (resolves with the echo, rejects after `timeoutMs`), `closed` (a
 * promise that resolves with why the connection ended) and `close()`.
 */
export function openWebSocket({address, port = 80, host, timeoutMs = 5000}) {
  return new Promise((resolve, reject) => {
    const socket = connect({host: address, port})
    const key = randomBytes(16).toString('base64')
    const accept = createHash('sha1')
      .update(key + GUID)
      .digest('base64')
    let buffer = Buffer.alloc(0)
    let upgraded = false
    const waiting = []
    let endedBecause = null
    let onEnded
    const closed = new Promise((done) => (onEnded = done))
    const end = (why) => {
      if (endedBecause) return
      endedBecause = why
      for (const pending of waiting.splice(0)) pending.reject(new Error(`connection ended: ${why}`))
      onEnded(why)
      if (!upgraded) reject(new Error(`no upgrade: ${why}`))
    }
    socket.setNoDelay(true)
    socket.on('connect', () =>
      socket.write(
        `GET / HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ),
    )
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk])
      if (!upgraded) {
        const headEnd = buffer.indexOf('\r\n\r\n')
        if (headEnd < 0) return
        const head = buffer.subarray(0, headEnd).toString('latin1')
        buffer = buffer.subarray(headEnd + 4)
        if (!head.startsWith('HTTP/1.1 101') || !head.includes(accept)) {
          socket.destroy()
          return end(`refused: ${head.split('\r\n')[0]}`)
        }
        upgraded = true
        resolve({closed, close: () => socket.end(), open: () => endedBecause === null, send})
      }
      while (buffer.length >= 2) {
        const length = buffer[1] & 127
        if (buffer.length < 2 + length) break
        const text = buffer.subarray(2, 2 + length).toString()
        buffer = buffer.subarray(2 + length)
        waiting.shift()?.resolve(text)
      }
    })
    socket.on('error', (error) => end(`error ${error.code ?? error.message}`))
    socket.on('close', () => end('closed'))

    function send(text) {
      const payload = Buffer.from(text)
      if (payload.length > 125) throw new Error('this client sends frames under 126 bytes only')
      const mask = randomBytes(4)
      const frame = Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, payload.map((byte, index) => byte ^ mask[index % 4])])
      return new Promise((ok, fail) => {
        if (endedBecause) return fail(new Error(`connection ended: ${endedBecause}`))
        const timer = setTimeout(() => fail(new Error(`no echo within ${timeoutMs} ms`)), timeoutMs)
        waiting.push({reject: (error) => (clearTimeout(timer), fail(error)), resolve: (echo) => (clearTimeout(timer), ok(echo))})
        socket.write(frame)
      })
    }
  })
}
