// Real redis for the TCP-by-name suite (test/e2e/tcp.e2e.test.ts) and bench/tcp.mjs: the image is
// built from Debian's packages (there is no registry to pull from), and a minimal RESP client holds
// one connection open across whatever the caller does meanwhile.
import {execFile} from 'node:child_process'
import {createHash} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {connect} from 'node:net'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'

const exec = promisify(execFile)
const CONTEXT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'e2e', 'tcp')

/** redis-server on `port`, nothing written to disk, reachable from outside its container. */
export const redisServer = (port = 6379) => ['redis-server', '--port', String(port), '--protected-mode', 'no', '--save', '', '--appendonly', 'no']

/** Builds the image once per Dockerfile content (tagged by its hash) and returns its tag. */
export async function ensureRedisImage() {
  const tag = `highway-test/redis:${createHash('sha256')
    .update(readFileSync(join(CONTEXT, 'Dockerfile')))
    .digest('hex')
    .slice(0, 12)}`
  const present = await exec('docker', ['image', 'inspect', tag]).then(
    () => true,
    () => false,
  )
  if (!present) await exec('docker', ['build', '-q', '-t', tag, CONTEXT], {maxBuffer: 16 * 1024 * 1024, timeout: 600_000})
  return tag
}

/** One RESP connection: `command('SET', 'k', 'v')` resolves with the reply's text (simple, error, integer or bulk). */
export function openRedis({address, port = 6379, timeoutMs = 5000}) {
  return new Promise((resolve, reject) => {
    const socket = connect({host: address, port, noDelay: true})
    const waiting = []
    let buffer = Buffer.alloc(0)
    let ended = null
    const closed = new Promise((done) => socket.once('close', () => done(ended ?? 'closed')))
    socket.on('error', (error) => {
      ended = error.code ?? error.message
      for (const {fail} of waiting.splice(0)) fail(error)
    })
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk])
      for (;;) {
        const line = buffer.indexOf('\r\n')
        if (line < 0 || waiting.length === 0) return
        const head = buffer.subarray(0, line).toString()
        let reply
        let used = line + 2
        if (head[0] === '$') {
          const length = Number(head.slice(1))
          if (length < 0) reply = null
          else {
            if (buffer.length < used + length + 2) return
            reply = buffer.subarray(used, used + length).toString()
            used += length + 2
          }
        } else reply = head.slice(1)
        buffer = buffer.subarray(used)
        waiting.shift().done(head[0] === '-' ? `ERR ${reply}` : reply)
      }
    })
    const client = {
      closed,
      command: (...args) =>
        new Promise((done, fail) => {
          if (socket.destroyed) return fail(new Error(`connection closed (${ended ?? 'closed'})`))
          const timer = setTimeout(() => fail(new Error(`no reply to ${args[0]} within ${timeoutMs} ms`)), timeoutMs)
          waiting.push({done: (value) => (clearTimeout(timer), done(value)), fail: (error) => (clearTimeout(timer), fail(error))})
          socket.write(`*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(String(arg))}\r\n${arg}\r\n`).join('')}`)
        }),
      close: () => socket.destroy(),
      open: () => !socket.destroyed,
    }
    socket.once('connect', () => {
      // Only the connect had a deadline: a long session may sit idle as long as it likes.
      socket.setTimeout(0)
      resolve(client)
    })
    socket.once('error', reject)
    socket.setTimeout(timeoutMs, () => socket.connecting && socket.destroy(new Error(`connect to ${address}:${port} timed out`)))
  })
}
