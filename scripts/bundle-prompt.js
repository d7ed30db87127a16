// Bundles the commands asked at the prompt that bin/run.js runs without oclif (`run`, `ls`, `status`)
// into one file each, beside the module it starts from: node then reads and links one module
// instead of a score of them (about 10 ms of a command that must start about as fast as node).
// The bundles hold the same compiled code as dist/; what they import lazily stays outside: chalk
// (loaded only on a terminal) and `run --replace`'s module (it needs the full Docker and etcd clients).
import {build} from 'esbuild'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
for (const entry of ['cli/lean', 'service/main']) {
  await build({
    entryPoints: [join(root, 'dist', `${entry}.js`)],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    outfile: join(root, 'dist', `${entry}.bundle.js`),
    external: ['chalk', './replace.js'],
    logLevel: 'warning',
    legalComments: 'none',
  })
}
