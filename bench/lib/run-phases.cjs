// `highway run` as bin/run.cjs runs it (dist/service/main.bundle.cjs's main), with node's own net.connect and
// child_process.spawn wrapped to timestamp every proxy request (from its connect to its socket's close) and
// the docker CLI: a profile of the real code path, whatever it currently does, without editing it. For
// bench/run-d.mjs. CommonJS, as bin/run.cjs is, so that node's start-up here is the same as there.
//
//   node bench/lib/run-phases.cjs [DOCKER RUN FLAGS] IMAGE [COMMAND...]
//
// Prints what `highway run` prints, then one line `PHASES {json}` with epoch-ms marks and events.
'use strict'
const childProcess = require('node:child_process')
const net = require('node:net')
const {join} = require('node:path')
// bin/run.cjs's own way to end, so that "return + exit" times what `highway run` does.
const {exitPromptly} = require(join(__dirname, '..', '..', 'bin', 'run.cjs'))

const now = () => performance.timeOrigin + performance.now()
const marks = {origin: performance.timeOrigin, script: now()}
const requests = []
const spawns = []

// node:http connects through net.createConnection; highway's own headers-only GET through net.connect.
for (const method of ['connect', 'createConnection']) {
  const original = net[method]
  net[method] = function (...args) {
    const entry = {start: now(), end: NaN, host: ''}
    requests.push(entry)
    const socket = original.apply(this, args)
    const write = socket.write
    socket.write = function (chunk, ...rest) {
      entry.host ||= /^host: *(\S+)/im.exec(String(chunk))?.[1] ?? ''
      return write.call(this, chunk, ...rest)
    }
    socket.on('close', () => (entry.end = Number.isNaN(entry.end) ? now() : entry.end))
    return socket
  }
}
const spawn = childProcess.spawn
childProcess.spawn = function (...args) {
  const entry = {start: now(), end: NaN, command: [args[0], ...(args[1] ?? []).slice(0, 2)].join(' ')}
  spawns.push(entry)
  const child = spawn.apply(this, args)
  child.on('close', () => (entry.end = now()))
  return child
}

;(async () => {
  marks.importStart = now()
  const {main} = require(join(__dirname, '..', '..', 'dist', 'service', 'main.bundle.cjs'))
  marks.importEnd = now()
  const code = await main(process.argv.slice(2))
  marks.mainReturned = now()
  process.stdout.write(`\nPHASES ${JSON.stringify({code, marks, requests, spawns})}\n`)
  exitPromptly(typeof code === 'number' ? code : 0)
})()
