// Bundles the commands asked at the prompt that bin/run.cjs runs without oclif (`run`, `ls`, `status`)
// into one file each, beside the module it starts from: node then reads and links one module
// instead of a score of them (about 10 ms of a command that must start about as fast as node).
// The bundles hold the same compiled code as dist/; what they import lazily stays outside: chalk
// (loaded only on a terminal) and `run --replace`'s module (it needs the full Docker and etcd clients).
// `run`'s is CommonJS, as bin/run.cjs is, so that `run` never sets up node's ES module loader; `ls`'s
// cannot be (its colours are chosen by a top-level await) and is imported.
import {build} from 'esbuild'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
for (const [entry, format, extension] of [
  ['cli/lean', 'esm', 'js'],
  ['service/main', 'cjs', 'cjs'],
]) {
  await build({
    entryPoints: [join(root, 'dist', `${entry}.js`)],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format,
    outfile: join(root, 'dist', `${entry}.bundle.${extension}`),
    external: ['chalk', './replace.js'],
    logLevel: 'warning',
    legalComments: 'none',
  })
}
