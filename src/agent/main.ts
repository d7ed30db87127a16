// Entry point of the agent container (bundled to lib/agent.cjs by scripts/bundle-agent.js).
import {connectDocker, hostIdentity} from '../docker/client.js'
import {Registry} from '../registry/etcd.js'
import {Agent} from './agent.js'

function required(name: string): string {
  const value = process.env[name]
  if (!value) {
    console.error(`highway agent: ${name} is not set`)
    process.exit(2)
  }
  return value
}

async function main(): Promise<void> {
  const domain = required('HIGHWAY_DOMAIN')
  const bridgeIp = required('HIGHWAY_BRIDGE_IP')
  const endpoints = required('HIGHWAY_ETCD').split(',')

  const docker = connectDocker()
  const host = await hostIdentity(docker)
  const registry = new Registry({endpoints})
  const agent = new Agent({docker, domain, events: connectDocker({timeout: 0}), host: {...host, bridgeIp}, registry})

  // On SIGTERM the records stay: a restarted agent takes them over, a host gone for good loses them when the lease expires.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      void agent.stop().finally(() => process.exit(0))
    })
  }

  console.log(`highway agent on ${host.name} (${host.id}): domain ${domain}, bridge ${bridgeIp}, etcd ${endpoints.join(',')}`)
  await agent.start()
}

main().catch((error: Error) => {
  console.error(`highway agent failed: ${error.stack ?? error.message}`)
  process.exit(1)
})
