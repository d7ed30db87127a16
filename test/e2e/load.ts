// Clients that keep asking while something changes under them, and count every request that did not
// get the service's own answer: what the zero-loss tests assert on.
import {spawn} from 'node:child_process'
import {Agent, request} from 'node:http'
import type {Socket} from 'node:net'
import {join} from 'node:path'
import {HIGHWAY_HEADER} from '../../src/proxy/haproxy.js'
import {ROOT} from './harness.js'

export interface LoopResult {
  sent: number
  ok: number
  /** One entry per request that was not a 200: "HTTP 503 stopped" (highway's page), "HTTP 503" (anyone else's), or the error code. */
  failures: string[]
  connections: number
}

/**
 * One request at a time, each sent as soon as the last one is answered: on one keep-alive connection,
 * or (`keepAlive: false`) on a fresh connection each.
 */
export async function requestLoop(address: string, host: string, running: () => boolean, options: {keepAlive?: boolean} = {}): Promise<LoopResult> {
  const agent = new Agent({keepAlive: options.keepAlive ?? true, maxSockets: 1})
  const sockets = new Set<Socket>()
  const result: LoopResult = {connections: 0, failures: [], ok: 0, sent: 0}
  while (running()) {
    result.sent++
    try {
      const {kind, status} = await new Promise<{status: number; kind: string | undefined}>((resolve, reject) => {
        const req = request({agent, headers: {host}, host: address, path: '/', port: 80, timeout: 5000}, (res) => {
          res.resume()
          res.on('end', () => resolve({kind: res.headers[HIGHWAY_HEADER] as string | undefined, status: res.statusCode ?? 0}))
          res.on('error', reject)
        })
        req.on('socket', (socket) => sockets.add(socket))
        req.on('timeout', () => req.destroy(new Error('timeout')))
        req.on('error', reject)
        req.end()
      })
      if (status === 200) result.ok++
      else result.failures.push(`HTTP ${status}${kind ? ` ${kind}` : ''}`)
    } catch (error) {
      result.failures.push((error as NodeJS.ErrnoException).code ?? (error as Error).message)
    }
  }
  agent.destroy()
  result.connections = sockets.size
  return result
}

export interface WrkResult {
  requests: number
  errors: {connect: number; read: number; write: number; status: number; timeout: number}
}

/** wrk on keep-alive connections until stopped (SIGINT makes it stop and report), one JSON line from bench/lib/wrk-json.lua. */
export function wrk(address: string, host: string, connections: number): {stop: () => void; done: Promise<WrkResult>} {
  const child = spawn('wrk', ['-t1', `-c${connections}`, '-d120s', '-s', join(ROOT, 'bench', 'lib', 'wrk-json.lua'), `http://${address}/`], {
    env: {...process.env, WRK_HOST: host},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk) => (output += chunk))
  child.stderr.on('data', (chunk) => (output += chunk))
  const done = new Promise<WrkResult>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', () => {
      const line = /^WRKJSON (.*)$/m.exec(output)?.[1]
      if (line) resolve(JSON.parse(line) as WrkResult)
      else reject(new Error(`wrk reported nothing: ${output}`))
    })
  })
  return {done, stop: () => child.kill('SIGINT')}
}
