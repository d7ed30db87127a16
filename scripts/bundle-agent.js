// Bundles the route agent (and the TCP forwarder) into one file each for the infrastructure image: the image then needs only
// Debian's nodejs, not npm or node_modules. etcd3 loads its .proto files from `__dirname/../proto`,
// so they are copied beside the bundle's lib/ directory.
import {build} from 'esbuild'
import {cpSync, mkdirSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const out = join(root, 'dist', 'agent-image')
mkdirSync(join(out, 'lib'), {recursive: true})
/** One CommonJS file for the image's Node, from `entry` under src/. */
const bundle = (entry, file, options = {}) =>
  build({
    entryPoints: [join(root, 'src', entry)],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    outfile: join(out, 'lib', file),
    logLevel: 'warning',
    legalComments: 'none',
    ...options,
  })
// The TCP forwarder: Node's standard library only, so its bundle is small and starts fast.
await bundle('tcp/main.ts', 'tcp.cjs')
/**
 * docker-modem loads its ssh:// transport, and with it ssh2 and its crypto (a quarter of the bundle,
 * and 16 MB of buffers it allocates on load), whatever the Docker host. The agent only ever reaches
 * the engine through the socket mounted into its container: the transport is left out of its bundle.
 */
const noSshTransport = {
  name: 'no-ssh-transport',
  setup(build) {
    build.onResolve({filter: /^\.\/ssh$/}, (args) => (/[\\/]docker-modem[\\/]/.test(args.importer) ? {namespace: 'no-ssh', path: 'ssh'} : undefined))
    build.onLoad({filter: /.*/, namespace: 'no-ssh'}, () => ({
      contents: "module.exports = () => { throw new Error('the highway agent reaches Docker through its socket only, not ssh://') }",
      loader: 'js',
    }))
  },
}
// ssh2's optional native helper: loaded in a try/catch, never needed by the agent.
await bundle('agent/main.ts', 'agent.cjs', {external: ['cpu-features'], plugins: [noSshTransport]})
cpSync(join(root, 'node_modules', 'etcd3', 'proto'), join(out, 'proto'), {recursive: true})
cpSync(join(root, 'assets', 'Dockerfile'), join(out, 'Dockerfile'))
