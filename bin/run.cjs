#!/usr/bin/env node
// `highway run IMAGE ...` skips oclif's start-up and its argv scan: a `--help` or `-d` after IMAGE
// belongs to the container, and `run` must start about as fast as `docker run` itself. `ls` skips it
// too, and `status`: they are asked at the prompt, often. This file and `run`'s bundle are CommonJS:
// node sets up its ES module loader only on the first import, about 4 ms of `run` (bench/run-d.mjs).
'use strict'

async function main(argv) {
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
    // oclif's own format, without loading oclif.
    const {version} = require('../package.json')
    console.log(`highway/${version} ${process.platform}-${process.arch} node-${process.version}`)
    return
  }
  if (argv[0] === 'ls' || argv[0] === 'status') {
    // Without oclif, dockerode or etcd3 (src/cli/lean.ts).
    const {isLean, leanMain} = await import('../dist/cli/lean.bundle.js')
    if (isLean(argv, process.env)) return exitPromptly(await leanMain(argv))
  }
  if (argv[0] === 'run' && argv.length > 1) {
    const code = await require('../dist/service/main.bundle.cjs').main(argv.slice(1))
    if (code !== 'help') return exitPromptly(code)
  }
  const {execute} = await import('@oclif/core')
  await execute({args: argv[0] === 'run' ? ['run', '--help'] : argv, dir: __dirname})
  // oclif exits by itself on an error, not after a command that succeeded. Whatever a client left
  // pending can then keep node alive long after the command is done: `down` on the last host of a
  // cluster, whose saved peers' addresses drop packets, was done in 7 s and ended 70 s later
  // (test/e2e/multihost.e2e.test.ts's teardown), most likely on its connects to those addresses.
  exitPromptly(process.exitCode)
}

/**
 * Ends the process with `code` as soon as what it printed has left. node's own exit, once nothing is
 * pending, tears down what the process set up first, and takes longer the more it did: after `run -d`,
 * 23 ms from its 'exit' event to the process ending on a slow machine, against 9 for a bare node.
 * process.exit skips most of that (bench/run-d.mjs, "return + exit": 24 -> 18 ms there). But it drops
 * writes a pipe still queues (pipes are asynchronous on POSIX), so while anything is queued, node's
 * own exit is left to wait for it (test/unit/cli/entry.test.ts).
 */
function exitPromptly(code) {
  process.exitCode = code
  if (process.stdout.writableLength === 0 && process.stderr.writableLength === 0) process.exit()
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((error) => {
    // What an uncaught error in an ES module entry prints: its stack, and exit code 1.
    console.error(error)
    process.exitCode = 1
  })
}

module.exports = {exitPromptly}
