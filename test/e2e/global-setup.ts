/**
 * The e2e project's global setup: notes what the Docker engine holds before the suite and fails the
 * run if the suite leaves anything new behind: a container (running or exited, such as a failed
 * build step's), a volume or a network. Images are left out on purpose: the infrastructure and test
 * images are built once and reused by later runs. Whatever was there before may go (`down --purge`
 * removes etcd's volume); only additions count.
 */
import {execFile} from 'node:child_process'
import {promisify} from 'node:util'

const exec = promisify(execFile)

interface Snapshot {
  containers: Map<string, string>
  volumes: Map<string, string>
  networks: Map<string, string>
}

/** One line per object: its id first (the key), then what a reader needs to find where it came from. */
async function list(args: string[]): Promise<Map<string, string>> {
  const {stdout} = await exec('docker', args, {maxBuffer: 16 * 1024 * 1024})
  return new Map(
    stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => [line.split('\t')[0], line.replaceAll('\t', '  ')]),
  )
}

async function snapshot(): Promise<Snapshot> {
  const [containers, volumes, networks] = await Promise.all([
    list(['ps', '-a', '--no-trunc', '--format', '{{.ID}}\t{{.Names}}\t{{.Image}}\t{{.Status}}\t{{.Labels}}']),
    list(['volume', 'ls', '--format', '{{.Name}}\t{{.Driver}}\t{{.Labels}}']),
    list(['network', 'ls', '--no-trunc', '--format', '{{.ID}}\t{{.Name}}\t{{.Driver}}']),
  ])
  return {containers, networks, volumes}
}

function added(before: Snapshot, after: Snapshot): string[] {
  return (['containers', 'volumes', 'networks'] as const).flatMap((kind) =>
    [...after[kind]].filter(([id]) => !before[kind].has(id)).map(([, line]) => `${kind.slice(0, -1)}: ${line}`),
  )
}

let before: Snapshot | undefined

export async function setup(): Promise<void> {
  before = await snapshot()
}

export async function teardown(): Promise<void> {
  if (!before) return
  // A container removed with --rm or `rm -f` a moment ago may still be on its way out.
  let left: string[] = []
  for (let attempt = 0; attempt < 25; attempt++) {
    left = added(before, await snapshot())
    if (left.length === 0) return
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  // vitest only logs an error thrown here; the exit code is what makes `npm test` fail.
  process.exitCode = 1
  throw new Error(`the e2e suite left ${left.length} thing(s) behind on the Docker engine:\n  ${left.join('\n  ')}`)
}
