// The machine a benchmark run measured: written to results/machine.json for bench/report.mjs.
//
//   node bench/machine.mjs
import {cpus, totalmem} from 'node:os'
import {readFileSync} from 'node:fs'
import {ROOT, bench, dockerOut, infraImage, relaunchUnderLock, run} from './lib/common.mjs'
import {CONTAINERS} from './lib/highway.mjs'

relaunchUnderLock(import.meta.url)

const firstLine = (text) => text.trim().split('\n')[0]

await bench('machine', async () => {
  const image = await infraImage()
  const haproxy = firstLine(await dockerOut('exec', CONTAINERS.proxy, 'haproxy', '-v'))
  const etcd = firstLine(await dockerOut('exec', CONTAINERS.etcd, 'etcd', '--version'))
  return {
    nproc: Number((await run('nproc', [])).stdout.trim()),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: +(totalmem() / 2 ** 30).toFixed(1),
    kernel: (await run('uname', ['-r'])).stdout.trim(),
    os: /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'unknown',
    docker: await dockerOut('version', '--format', 'engine {{.Server.Version}} (API {{.Server.APIVersion}}), client {{.Client.Version}}'),
    userlandProxy: (await run('pgrep', ['-c', 'docker-proxy'])).stdout.trim() !== '0',
    node: process.version,
    wrk: firstLine((await run('wrk', ['-v'])).stdout + (await run('wrk', ['-v'])).stderr),
    infraImage: image,
    haproxy,
    etcd,
    highway: JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')).version,
  }
})
