// A small fixed-rate HTTP/1.1 load generator on raw keep-alive sockets (autocannon is not installed
// here, and wrk holds no fixed rate). Requests are scheduled at `rate` per second whatever the
// answers; each goes out on an idle connection of a pool of at most `connections`, one request per
// connection at a time (no pipelining). Every request is accounted for: answered 200, answered
// otherwise, or lost with its connection (reset or closed under it) - a lost request is never retried.
//
// Latency is kept two ways: from the moment the request was written (service time) and from the
// moment it was scheduled (includes waiting for a free connection; no coordinated omission).
import {connect} from 'node:net'
import {HIGHWAY_HEADER} from './highway.mjs'

const now = () => performance.timeOrigin + performance.now()

export function runLoad({address, port, host, rate, durationMs, connections = 8, maxQueue = 20_000, until = () => false}) {
  return new Promise((resolve) => {
    const request = Buffer.from(`GET / HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: highway-bench\r\n\r\n`)
    const interval = 1000 / rate
    const started = now()
    const result = {sentAt: [], latency: [], queued: [], errors: [], statuses: {}, sent: 0, ok: 0, connectionsOpened: 0, closedByServer: 0}
    const queue = []
    const pool = []
    let scheduled = 0
    let stopping = false
    let timer = null

    const fail = (job, kind) => result.errors.push({at: +(job.sentAt - started).toFixed(2), kind})

    function open() {
      const conn = {socket: connect({host: address, port}), job: null, buffer: Buffer.alloc(0), dead: false, lastUsed: 0}
      result.connectionsOpened++
      conn.socket.setNoDelay(true)
      conn.socket.on('data', (chunk) => onData(conn, chunk))
      const onGone = (error) => {
        if (conn.dead) return
        conn.dead = true
        pool.splice(pool.indexOf(conn), 1)
        if (conn.job) {
          fail(conn.job, error ? `error ${error.code ?? error.message}` : 'closed before the response')
          conn.job = null
        } else if (!error) {
          result.closedByServer++
        }
        dispatch()
      }
      conn.socket.on('error', onGone)
      conn.socket.on('close', () => onGone())
      pool.push(conn)
      return conn
    }

    function onData(conn, chunk) {
      conn.buffer = conn.buffer.length ? Buffer.concat([conn.buffer, chunk]) : chunk
      for (;;) {
        const end = conn.buffer.indexOf('\r\n\r\n')
        if (end < 0) break
        const head = conn.buffer.subarray(0, end).toString('latin1')
        const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0)
        if (conn.buffer.length < end + 4 + length) break
        conn.buffer = conn.buffer.subarray(end + 4 + length)
        const status = Number(head.slice(9, 12))
        const job = conn.job
        conn.job = null
        if (job) {
          const at = now()
          result.statuses[status] = (result.statuses[status] ?? 0) + 1
          if (status === 200) {
            result.ok++
            result.sentAt.push(job.sentAt - started)
            result.latency.push(at - job.sentAt)
            result.queued.push(at - job.scheduledAt)
          } else {
            // Whose answer: highway's own pages carry x-highway; anything else is HAProxy's or the backend's.
            fail(job, `status ${status} (${new RegExp(`\r\n${HIGHWAY_HEADER}:\\s*([^\r]*)`, 'i').exec(head)?.[1] ?? `no ${HIGHWAY_HEADER} header`})`)
          }
        }
        if (/\r\nconnection:\s*close/i.test(head)) {
          // The server said so in its answer: a clean close, not a lost request.
          conn.dead = true
          pool.splice(pool.indexOf(conn), 1)
          result.closedByServer++
          conn.socket.end()
        }
      }
      dispatch()
    }

    function dispatch() {
      while (queue.length > 0) {
        // Least recently used idle connection: every connection of the pool keeps carrying requests.
        let conn = null
        for (const c of pool) if (!c.job && !c.dead && !c.socket.connecting && (!conn || c.lastUsed < conn.lastUsed)) conn = c
        if (!conn) {
          const connecting = pool.find((c) => !c.job && !c.dead)
          if (connecting) conn = connecting
          else if (pool.length < connections) conn = open()
          else break
        }
        const job = queue.shift()
        job.sentAt = now()
        conn.lastUsed = job.sentAt
        conn.job = job
        result.sent++
        conn.socket.write(request)
      }
      if (stopping && queue.length === 0 && pool.every((c) => !c.job)) finish()
    }

    function tick() {
      const t = now()
      const duration = Math.min(t, started + durationMs)
      while (started + scheduled * interval <= duration) {
        queue.push({scheduledAt: started + scheduled * interval, sentAt: 0})
        scheduled++
      }
      if (queue.length > maxQueue) {
        result.aborted = `more than ${maxQueue} requests waiting for a connection: the target cannot keep up with ${rate}/s`
        queue.length = 0
        stopping = true
      }
      if (t >= started + durationMs || until()) {
        stopping = true
        durationMs = Math.min(durationMs, t - started)
      }
      dispatch()
      if (!stopping) timer = setTimeout(tick, 1)
      else setTimeout(finish, 5000)
    }

    let finished = false
    function finish() {
      if (finished) return
      finished = true
      clearTimeout(timer)
      for (const c of pool) {
        if (c.job) fail(c.job, 'no answer within 5 s after the end')
        c.dead = true
        c.socket.destroy()
      }
      result.durationMs = now() - started
      result.scheduled = scheduled
      result.failed = result.errors.length
      resolve(result)
    }

    tick()
  })
}
