// Entry point of the agent container (bundled to lib/agent.cjs by scripts/bundle-agent.js).
import {createClients} from '../clients.js'
import {DEFAULT_SETTINGS, type Settings} from '../core/types.js'
import {leaseFor} from '../registry/held-keys.js'
import {Agent} from './agent.js'

function required(name: string): string {
  const value = process.env[name]
  if (!value) {
    console.error(`highway agent: ${name} is not set`)
    process.exit(2)
  }
  return value
}

// Every promise the agent starts is awaited or caught; one that is not is a bug, and the agent's
// state may be half-updated after it. Exit non-zero: Docker restarts the container, the proxy keeps
// serving its last good config meanwhile (it renders nothing itself), and the new agent lists etcd
// and reconciles from scratch.
process.on('unhandledRejection', (reason) => {
  console.error(
    `${new Date().toISOString()} highway agent: unhandled rejection, exiting: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`,
  )
  process.exit(1)
})

async function main(): Promise<void> {
  // What `highway up` was told, handed over in the container's environment.
  const settings: Settings = {
    ...DEFAULT_SETTINGS,
    bridgeIp: required('HIGHWAY_BRIDGE_IP'),
    domain: required('HIGHWAY_DOMAIN'),
    etcdEndpoints: required('HIGHWAY_ETCD').split(','),
    advertiseIp: process.env.HIGHWAY_ADVERTISE_IP ?? '',
    hostId: required('HIGHWAY_HOST_ID'),
    leaseTtl: Number(process.env.HIGHWAY_LEASE_TTL ?? DEFAULT_SETTINGS.leaseTtl),
    tcpRange: process.env.HIGHWAY_TCP_RANGE ?? '',
  }
  // Its etcd identity (host-<id>), which `up` read from the host's PKI directory; none only for an etcd of the user's own without TLS.
  const identity = process.env.HIGHWAY_ETCD_CERT
    ? {ca: required('HIGHWAY_ETCD_CA'), cert: required('HIGHWAY_ETCD_CERT'), key: required('HIGHWAY_ETCD_KEY')}
    : undefined
  const clients = createClients(process.env, {identity})
  const docker = await clients.docker()
  // The engine's name is what `ls` shows; the id is highway's own, given by `up` (engines cloned from one image share an ID).
  const host = {id: settings.hostId!, name: (await docker.engine.identity()).name}
  const registry = clients.registry(settings)
  // Given where this host runs an etcd member: the leader may be that member, and die with the host.
  const electionMs = process.env.HIGHWAY_ETCD_ELECTION_MS ? Number(process.env.HIGHWAY_ETCD_ELECTION_MS) : undefined
  const lease = leaseFor(settings.leaseTtl!, electionMs)
  const agent = new Agent({
    docker,
    domain: settings.domain,
    leaseTtlSeconds: lease.grantSeconds,
    host: {...host, advertiseIp: settings.advertiseIp, bridgeIp: settings.bridgeIp},
    registry,
    tcpRange: settings.tcpRange,
  })

  // On SIGTERM the records stay: a restarted agent takes them over, a host gone for good loses them when the lease expires.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      void agent.stop().finally(() => process.exit(0))
    })
  }

  console.log(
    `highway agent on ${host.name} (${host.id}): domain ${settings.domain}, bridge ${settings.bridgeIp}${settings.advertiseIp ? `, advertised at ${settings.advertiseIp}` : ''}, etcd ${registry.endpoints.join(',')}`,
  )
  console.log(
    lease.honoured
      ? `lease TTL ${lease.grantSeconds} s: this host's routes leave every proxy within ${settings.leaseTtl} s of its death`
      : `lease TTL ${lease.grantSeconds} s, etcd's shortest: --lease-ttl ${settings.leaseTtl} is below ${lease.shortestSeconds} s, the shortest this host can keep; its routes may stay that long after its death`,
  )
  await agent.start()
}

main().catch((error: Error) => {
  console.error(`highway agent failed: ${error.stack ?? error.message}`)
  process.exit(1)
})
