#!/usr/bin/env node
// `highway run IMAGE ...` skips oclif's start-up and its argv scan: a `--help` or `-d` after IMAGE
// belongs to the container, and `run` must start about as fast as `docker run` itself. `ls` skips it
// too, and `status`: they are asked at the prompt, often.
const argv = process.argv.slice(2)
let handled = false
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
  // oclif's own format, without loading oclif.
  const {readFileSync} = await import('node:fs')
  const {version} = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
  console.log(`highway/${version} ${process.platform}-${process.arch} node-${process.version}`)
  handled = true
}
if (!handled && (argv[0] === 'ls' || argv[0] === 'status')) {
  // Without oclif, dockerode or etcd3 (src/cli/lean.ts).
  const {isLean, leanMain} = await import('../dist/cli/lean.bundle.js')
  if (isLean(argv, process.env)) {
    process.exitCode = await leanMain(argv)
    handled = true
  }
}
if (!handled && argv[0] === 'run' && argv.length > 1) {
  const {main} = await import('../dist/service/main.bundle.js')
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
