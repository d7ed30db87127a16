// wrk as a load beside test/support/load-clients.mjs's closed-loop clients: many requests on
// keep-alive connections, with its own count of every error.
import {spawn} from 'node:child_process'
import {join} from 'node:path'
import {ROOT} from './harness.js'

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
