#!/usr/bin/env node
// `highway run IMAGE ...` skips oclif's start-up and its argv scan: a `--help` or `-d` after IMAGE
// belongs to the container, and `run` must start about as fast as `docker run` itself.
const argv = process.argv.slice(2)
let handled = false
if (argv[0] === 'run' && argv.length > 1) {
  const {main} = await import('../dist/service/main.js')
  const code = await main(argv.slice(1))
  if (code !== 'help') {
    process.exitCode = code
    handled = true
  }
}
if (!handled) {
  const {execute} = await import('@oclif/core')
  await execute({args: argv[0] === 'run' ? ['run', '--help'] : argv, dir: import.meta.url})
}
