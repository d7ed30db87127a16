// `highway run` as bin/run.js runs it (dist/service/main.bundle.js's main), with node's own http.request and
// child_process.spawn wrapped to timestamp every proxy request and the docker CLI: a profile of the
// real code path, whatever it currently does, without editing it. For bench/run-d.mjs.
//
//   node bench/lib/run-phases.mjs [DOCKER RUN FLAGS] IMAGE [COMMAND...]
//
// Prints what `highway run` prints, then one line `PHASES {json}` with epoch-ms marks and events.
import childProcess from 'node:child_process'
import http from 'node:http'
import {syncBuiltinESMExports} from 'node:module'

const now = () => performance.timeOrigin + performance.now()
const marks = {origin: performance.timeOrigin, script: now()}
const requests = []
const spawns = []

const request = http.request
http.request = function (...args) {
  const options = typeof args[0] === 'object' && !(args[0] instanceof URL) ? args[0] : (args[1] ?? {})
  const entry = {start: now(), end: NaN, host: options.headers?.host ?? options.headers?.Host ?? ''}
  requests.push(entry)
  const req = request.apply(this, args)
  const ended = () => (entry.end = Number.isNaN(entry.end) ? now() : entry.end)
  req.on('response', (res) => res.on('end', ended))
  req.on('error', ended)
  return req
}
const spawn = childProcess.spawn
childProcess.spawn = function (...args) {
  const entry = {start: now(), end: NaN, command: [args[0], ...(args[1] ?? []).slice(0, 2)].join(' ')}
  spawns.push(entry)
  const child = spawn.apply(this, args)
  child.on('close', () => (entry.end = now()))
  return child
}
// ESM importers of node:http / node:child_process see the wrapped functions from here on.
syncBuiltinESMExports()

marks.importStart = now()
const {main} = await import(new URL('../../dist/service/main.bundle.js', import.meta.url))
marks.importEnd = now()
const code = await main(process.argv.slice(2))
marks.mainReturned = now()
process.stdout.write(`\nPHASES ${JSON.stringify({code, marks, requests, spawns})}\n`)
process.exitCode = typeof code === 'number' ? code : 0
