// Preloaded with `node --import`: when the process exits, writes to $HIGHWAY_TEST_LOADED the npm
// packages it loaded through node's CommonJS loader (oclif, etcd3, gRPC and dockerode are CommonJS,
// so an ESM import of them lands in require.cache too). lean-cli.e2e.test.ts tells by it which path ran.
import {writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'

const {cache} = createRequire(import.meta.url)

process.on('exit', () => {
  const packages = Object.keys(cache).map((path) => /node_modules[/\\]((?:@[^/\\]+[/\\])?[^/\\]+)/.exec(path)?.[1].replace('\\', '/'))
  writeFileSync(process.env.HIGHWAY_TEST_LOADED, JSON.stringify([...new Set(packages.filter(Boolean))].sort()))
})
