// Closed-loop HTTP load through highway's proxy: N clients, each sending its next GET as soon as
// the last one is answered, either on one keep-alive connection per client or on a fresh connection
// per request. Every request is counted: a 2xx is ok; anything else is a failure with its kind
// (an HTTP status with highway's x-highway page kind, a connection error, no answer in time). A
// failed request is never retried. Plain JavaScript so that bench/ scripts (node, no TypeScript)
// and the e2e suite share it; load-clients.d.mts gives its types.
import {Agent, request} from 'node:http'

const HIGHWAY_HEADER = 'x-highway'

/**
 * Starts the clients at once; `stop()` lets every client finish its request in flight, then
 * resolves with the result.
 * @param {import('./load-clients.d.mts').LoadOptions} options
 * @returns {import('./load-clients.d.mts').Load}
 */
export function startLoad({address, port = 80, host, path = '/', clients = 4, mode = 'keep-alive', timeoutMs = 5000}) {
  const started = performance.now()
  const at = () => Math.round(performance.now() - started)
  /** @type {import('./load-clients.d.mts').LoadResult} */
  const result = {mode, clients, sent: 0, ok: 0, failed: 0, failures: [], bodies: {}, connections: 0, durationMs: 0}
  let running = true

  const count = (body) => {
    const seen = result.bodies[body]
    const t = at()
    if (seen) {
      seen.count++
      seen.lastAt = t
    } else {
      result.bodies[body] = {count: 1, firstAt: t, lastAt: t}
    }
  }
  const fail = (kind) => {
    result.failed++
    result.failures.push({at: at(), kind})
  }

  function once(agent) {
    return new Promise((resolve) => {
      const req = request({agent, headers: {host}, host: address, method: 'GET', path, port, timeout: timeoutMs}, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk) => (body += chunk))
        res.on('end', () => {
          const status = res.statusCode ?? 0
          if (status >= 200 && status < 300) {
            result.ok++
            count(body.trim())
          } else {
            const kind = res.headers[HIGHWAY_HEADER]
            fail(`HTTP ${status}${kind ? ` (highway ${kind})` : ''}`)
          }
          resolve()
        })
        res.on('error', (error) => {
          fail(`response ${error.code ?? error.message}`)
          resolve()
        })
      })
      req.on('socket', (socket) => {
        if (!socket.highwayCounted) {
          socket.highwayCounted = true
          result.connections++
        }
      })
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), {code: 'TIMEOUT'})))
      req.on('error', (error) => {
        fail(`connection ${error.code ?? error.message}`)
        resolve()
      })
      result.sent++
      req.end()
    })
  }

  async function client() {
    // One socket per client, kept between requests; or none kept (agent: false closes after each answer).
    const agent = mode === 'keep-alive' ? new Agent({keepAlive: true, maxSockets: 1}) : false
    while (running) await once(agent)
    if (agent) agent.destroy()
  }

  const done = Promise.all(Array.from({length: clients}, () => client()))
  return {
    result,
    async stop() {
      running = false
      await done
      result.durationMs = at()
      return result
    },
  }
}

/** One line for a report: what was sent, how much failed and how, and which bodies came back. */
export function describeLoad(result) {
  const kinds = {}
  for (const failure of result.failures) kinds[failure.kind] = (kinds[failure.kind] ?? 0) + 1
  const bodies = Object.entries(result.bodies)
    .map(([body, seen]) => `"${body}" x${seen.count} (${seen.firstAt}-${seen.lastAt} ms)`)
    .join(', ')
  return `${result.mode}, ${result.clients} clients: ${result.sent} sent, ${result.ok} ok, ${result.failed} failed ${JSON.stringify(kinds)} over ${result.connections} connections in ${result.durationMs} ms; ${bodies}`
}
