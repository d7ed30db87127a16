import {createHash} from 'node:crypto'
import {HOST_DNS_CONTAINER_PORT, dnsCommand} from '../dns/dnsmasq.js'
import {COMPONENT, MANAGED, SPEC, type Component} from '../core/labels.js'
import {CONFIG_PATH, MASTER_SOCKET, RUN_DIR, renderProxyConfig} from '../proxy/haproxy.js'
import {NAMES_DIR} from '../tcp/table.js'
import {LOOPBACK_ETCD_URL} from '../core/settings.js'
import {DEFAULT_SETTINGS, INFRA_PORTS, type Settings} from '../core/types.js'
import type {ContainerSpec} from '../docker/types.js'
import {ALONE_RAFT, JOINABLE_RAFT} from '../registry/held-keys.js'
import {AGENT_ETCD_URL, type TlsIdentity} from '../registry/pki.js'
import {peerUrl} from '../registry/provision.js'

/**
 * etcd's data, auth state included. Named for the v2 key layout and its auth: the volume of the
 * plain-HTTP etcd before it holds only v1 keys, and reusing one with auth on under an older highway
 * would lock that one out.
 */
export const ETCD_VOLUME = 'highway-etcd-v2'
/** Earlier names of etcd's volume: nothing uses them any more, and `down --purge` removes them too. */
export const LEGACY_ETCD_VOLUMES = ['highway-etcd-data']
/**
 * The registry's own network: etcd and the agent, nothing else. Docker isolates bridge networks from
 * each other, so no container on the default bridge (or any other network) can reach etcd, at its
 * container address or anywhere else; the CLI reaches it on the host's loopback.
 */
export const REGISTRY_NETWORK = 'highway-registry'
/**
 * Where etcd's container keeps its certificate and key: /dev/shm, the tmpfs every container has,
 * so they never touch a disk, and writable whatever the root filesystem is. They reach the container
 * in its environment, which works on any engine (a bind mount of a host path breaks on a remote one).
 */
export const ETCD_TLS_DIR = '/dev/shm/highway-tls'
/** Runtime state shared by the proxy and the agent: rendered config, route maps, master socket. */
export const PROXY_VOLUME = 'highway-proxy-run'

export interface ComponentSpec {
  component: Component
  name: string
  /** Named volumes it mounts, created (labelled as highway's) before it. */
  volumes: string[]
  /** The highway network it joins instead of the default bridge, created before it. */
  network: string | null
  /** Ports it publishes, each on one host address (never every address); to `containerPort` when that differs. */
  ports: Array<{port: number; protocol: 'tcp' | 'udp'; address: string; containerPort?: number}>
  create: ContainerSpec & {name: string}
  /**
   * A one-shot container that gives a volume written by an older highway (whose components ran as
   * root) to the component's unprivileged user, run before the component when such a volume exists.
   * A volume created empty needs none: Docker copies the image directory's owner and mode into it.
   */
  prepare?: ContainerSpec & {name: string}
}

/** Labels a one-shot helper container: not a component, but highway's (so `down` removes a leftover). */
export const ONE_SHOT = 'io.highway.one-shot'

const MIB = 1024 * 1024

/**
 * What each component keeps (docs/architecture.md, "What each component keeps", says why). No
 * component keeps any capability: the ports below 1024 are bound by unprivileged users because the
 * container's own network namespace lets them (net.ipv4.ip_unprivileged_port_start=0, set here
 * rather than trusted to the engine's default).
 */
export interface Hardening {
  /** `user[:group]` as the image's /etc/passwd names them. */
  user: string
  /** Supplementary groups, by name in the image. */
  groups?: string[]
  memoryBytes: number
  pids: number
  /** Writable scratch space on a read-only root filesystem. */
  tmpfs: Record<string, string>
  bindsBelow1024?: boolean
  /** Capabilities it starts with (every other one dropped); only the TCP forwarder keeps any, see TCP_START_SCRIPT. */
  capabilities?: string[]
}

export const HARDENING: Record<Component, Hardening> = {
  etcd: {memoryBytes: 512 * MIB, pids: 256, tmpfs: {'/tmp': 'rw,noexec,nosuid,nodev,size=16m'}, user: 'etcd:etcd'},
  proxy: {bindsBelow1024: true, memoryBytes: 512 * MIB, pids: 1024, tmpfs: {'/tmp': 'rw,noexec,nosuid,nodev,size=16m'}, user: 'haproxy:highway'},
  // In the proxy's group: it reads the names' hosts file the agent writes to the run directory.
  dns: {bindsBelow1024: true, groups: ['highway'], memoryBytes: 64 * MIB, pids: 64, tmpfs: {'/tmp': 'rw,noexec,nosuid,nodev,size=1m'}, user: 'dnsmasq:nogroup'},
  // Root without a single capability, in the proxy's group: see docs/architecture.md for why not another user.
  agent: {groups: ['highway'], memoryBytes: 256 * MIB, pids: 128, tmpfs: {'/tmp': 'rw,noexec,nosuid,nodev,size=16m'}, user: 'root:root'},
  // On the host's network: NET_ADMIN makes the range local and is dropped before the forwarder runs,
  // which keeps NET_BIND_SERVICE alone (port 80 of every name; the host's sysctls are not its to change).
  tcp: {
    capabilities: ['NET_ADMIN', 'NET_BIND_SERVICE', 'SETPCAP'],
    groups: ['highway'],
    memoryBytes: 128 * MIB,
    pids: 64,
    tmpfs: {'/tmp': 'rw,noexec,nosuid,nodev,size=1m'},
    user: 'root:root',
  },
}

/** etcd's backend quota (its default is 2 GiB): far above what a host's records need, and below its memory limit. */
export const ETCD_QUOTA_BYTES = 256 * MIB

/** Who owns each volume (the component that creates it), and how the one-shot helper hands a volume from an older highway to it. */
export const VOLUME_OWNERS: Record<string, {component: Component; owner: string; mode: string; path: string}> = {
  [ETCD_VOLUME]: {component: 'etcd', mode: '0700', owner: 'etcd:etcd', path: '/var/lib/etcd'},
  [PROXY_VOLUME]: {component: 'proxy', mode: '2770', owner: 'haproxy:highway', path: RUN_DIR},
}

function hostConfigFor(hardening: Hardening): NonNullable<ContainerSpec['HostConfig']> {
  return {
    CapAdd: hardening.capabilities,
    CapDrop: ['ALL'],
    GroupAdd: hardening.groups,
    Memory: hardening.memoryBytes,
    PidsLimit: hardening.pids,
    ReadonlyRootfs: true,
    SecurityOpt: ['no-new-privileges'],
    Sysctls: hardening.bindsBelow1024 ? {'net.ipv4.ip_unprivileged_port_start': '0'} : undefined,
    Tmpfs: hardening.tmpfs,
  }
}

/**
 * The helper that hands the component's own volumes to their owners: CHOWN and FOWNER for that,
 * DAC_READ_SEARCH to walk a tree another user owns. No network, and gone once it has exited.
 */
function prepareSpec(component: Component, image: string, volumes: string[]): ComponentSpec['prepare'] {
  const owned = volumes.filter((volume) => VOLUME_OWNERS[volume]?.component === component)
  if (owned.length === 0) return undefined
  const script = owned
    .map((volume) => {
      const {mode, owner, path} = VOLUME_OWNERS[volume]
      return `chown -R ${owner} ${path} && chmod ${mode} ${path}`
    })
    .join(' && ')
  return {
    Cmd: ['sh', '-c', script],
    HostConfig: {
      Binds: owned.map((volume) => `${volume}:${VOLUME_OWNERS[volume].path}`),
      CapAdd: ['CHOWN', 'DAC_READ_SEARCH', 'FOWNER'],
      CapDrop: ['ALL'],
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      SecurityOpt: ['no-new-privileges'],
    },
    Image: image,
    Labels: {[MANAGED]: 'true', [ONE_SHOT]: 'true'},
    User: 'root:root',
    name: `highway-${component}-prepare`,
  }
}

export interface SpecContext {
  settings: Settings
  image: string
  /** Path of the engine's socket on this host, for the agent. */
  dockerSocket: string
  /** Registry certificates, handed to the containers in their environment. */
  tls: {
    /** etcd's server certificate and key, and the CA its clients' certificates must chain to; null where no etcd runs. */
    etcd: TlsIdentity | null
    /** This host's etcd user (CN=host-<id>): the agent's identity; null for an etcd of the user's own without TLS. */
    agent: TlsIdentity | null
  }
}

/** Writes the certificates from the environment to ETCD_TLS_DIR (0600), drops them from the environment, and runs "$@" (etcd). */
export const ETCD_START_SCRIPT =
  `umask 077 && mkdir -p ${ETCD_TLS_DIR} && ` +
  `printf '%s' "$HIGHWAY_TLS_CA" > ${ETCD_TLS_DIR}/ca.crt && printf '%s' "$HIGHWAY_TLS_CERT" > ${ETCD_TLS_DIR}/etcd.crt && ` +
  `printf '%s' "$HIGHWAY_TLS_KEY" > ${ETCD_TLS_DIR}/etcd.key && unset HIGHWAY_TLS_CA HIGHWAY_TLS_CERT HIGHWAY_TLS_KEY && exec "$@"`

/** prctl(2)'s number where the kernel has one per architecture, and its PR_SET_TIMERSLACK option. */
const PRCTL_SYSCALL: Record<string, number> = {aarch64: 167, x86_64: 157}
const PR_SET_TIMERSLACK = 29

/**
 * Runs the command after it with the kernel's timer slack at `slackMs` (inherited by every thread
 * and kept across exec): a timer of etcd's may then fire up to that late, and the kernel runs those
 * that fall due together in one wakeup. Idle, etcd wakes for its own clocks alone: raft ticks and its
 * watch sync every 100 ms, lease expiry every 500 ms; each wakeup costs far more than the work it
 * does (measured alone: 86 context switches a second and 0.47% of a core with the kernel's 50 µs, 20
 * and 0.32% with 100 ms). A socket that has something to read wakes it at once whatever the slack, so
 * requests and watches are as quick as before. Not where other hosts share the member: heartbeats
 * cross hosts there. perl-base is in every Debian image; on an architecture not listed here etcd runs
 * with the kernel's default (docs/architecture.md, "What highway costs while nothing happens").
 */
function withTimerSlack(slackMs: number): string[] {
  if (slackMs <= 0) return []
  const numbers = Object.entries(PRCTL_SYSCALL).map(([machine, number]) => `${machine} => ${number}`)
  const code =
    `my %prctl = (${numbers.join(', ')}); my $nr = $prctl{(POSIX::uname())[4]}; ` +
    `syscall($nr, ${PR_SET_TIMERSLACK}, ${slackMs * 1_000_000}) if $nr; ` +
    'exec {$ARGV[0]} @ARGV or die "cannot run $ARGV[0]: $!\\n"'
  return ['perl', '-MPOSIX', '-e', code]
}

/**
 * Node's young generation grows to 16 MiB per semi-space by default: memory an idle agent or forwarder
 * holds for bursts it rarely sees. At 1 MiB a burst costs a few more (cheap) scavenges instead.
 * Both work in bursts on a small heap, and V8's helper threads (concurrent marking, parallel
 * scavenges, background compiles) each allocate in a malloc arena of their own that keeps its pages
 * after the burst: with the image's node, the agent after 50 renderings of 1,000 names held 17.5 MB
 * once idle (a 4.8 MB heap), 12.6 MB without them; the forwarder given 1,000 names in 20 steps went
 * from 12.7 to 22.0 MB, 15.3 MB without them. Their work is not saved, only done on the main thread:
 * a 1,000-name rendering takes about 1 ms longer (9.7 against 8.7 ms) for less CPU in all.
 * `--optimize-for-size` makes V8 grow the old generation less eagerly after a burst: the agent held
 * 25.9-26.5 MiB with 1,000 names in four runs of bench/footprint.mjs, 36.2-36.4 without it, and
 * its idle CPU with 20 services stayed where it was (0.067-0.074% against 0.074-0.083% of a core,
 * three 60 s windows each, side by side).
 */
const NODE_FLAGS = ['--max-semi-space-size=1', '--single-threaded', '--optimize-for-size']

/**
 * The TCP forwarder's start: make highway's range local to the host (a `local` route on lo, so the
 * forwarder may listen on any address of it and packets to it from containers are delivered here),
 * then run the forwarder with NET_BIND_SERVICE alone. The shell stays, with NET_ADMIN, only to take
 * the route away again when the container stops.
 */
export const TCP_START_SCRIPT =
  'ip route replace local "$HIGHWAY_TCP_RANGE" dev lo table local || exit 1; ' +
  `setpriv --inh-caps=-all --bounding-set=-all,+net_bind_service node ${NODE_FLAGS.join(' ')} /opt/highway/lib/tcp.cjs & pid=$!; ` +
  `trap 'kill -TERM $pid; wait $pid; ip route del local "$HIGHWAY_TCP_RANGE" dev lo table local; exit 0' TERM INT; ` +
  'wait $pid'

/** The names' hosts file: written by the TCP forwarder once it listens on their addresses, read by dnsmasq (tcp/table.ts NAMES_DIR). */
export const NAMES_VOLUME = 'highway-names'

function publish(ports: ComponentSpec['ports']): NonNullable<ContainerSpec['HostConfig']>['PortBindings'] {
  const bindings: Record<string, Array<{HostIp: string; HostPort: string}>> = {}
  for (const {address, containerPort, port, protocol} of ports) {
    ;(bindings[`${containerPort ?? port}/${protocol}`] ??= []).push({HostIp: address, HostPort: String(port)})
  }
  return bindings
}

function container(
  component: Component,
  context: SpecContext,
  options: {
    cmd: string[]
    ports?: ComponentSpec['ports']
    binds?: string[]
    env?: string[]
    volumes?: string[]
    network?: string
    /** On the host's own network stack (no network of highway's to create, nothing to publish). */
    hostNetwork?: boolean
  },
): ComponentSpec {
  const ports = options.ports ?? []
  const hardening = HARDENING[component]
  const create: ContainerSpec = {
    Image: context.image,
    Cmd: options.cmd,
    Env: options.env,
    User: hardening.user,
    Labels: {[MANAGED]: 'true', [COMPONENT]: component},
    ExposedPorts: Object.fromEntries(ports.map(({containerPort, port, protocol}) => [`${containerPort ?? port}/${protocol}`, {}])),
    HostConfig: {
      Binds: options.binds,
      NetworkMode: options.hostNetwork ? 'host' : (options.network ?? 'bridge'),
      PortBindings: publish(ports),
      RestartPolicy: {Name: 'unless-stopped'},
      LogConfig: {Type: 'json-file', Config: {'max-size': '10m', 'max-file': '2'}},
      ...hostConfigFor(hardening),
    },
    // On highway's own network a component is also known by an alias: a replacement that runs under
    // its temporary name while `up` swaps (infra/containers.ts) answers the name the agent dials.
    ...(options.network && {NetworkingConfig: {EndpointsConfig: {[options.network]: {Aliases: [`highway-${component}`]}}}}),
  }
  // The spec label lets `up` tell "already right" from "must be recreated" without diffing inspect output.
  const spec = createHash('sha256').update(JSON.stringify(create)).digest('hex').slice(0, 16)
  create.Labels = {...create.Labels, [SPEC]: spec}
  return {
    component,
    create: {...create, name: `highway-${component}`},
    name: `highway-${component}`,
    network: options.network ?? null,
    ports,
    prepare: prepareSpec(component, context.image, options.volumes ?? []),
    volumes: options.volumes ?? [],
  }
}

/** etcd's timers: its own defaults where other hosts may join, faster ticks and a timer slack where it is alone (see the etcd component). */
function raftOf(settings: Settings): typeof ALONE_RAFT {
  return settings.advertiseIp ? JOINABLE_RAFT : ALONE_RAFT
}

/**
 * The election timeout of the etcd member on this host when other hosts share it (it may lead, and
 * die with the host: registry/held-keys.ts leaseFor); undefined where no member runs or it is alone.
 */
export function memberElectionMs(settings: Pick<Settings, 'advertiseIp' | 'etcdEndpoints'>): number | undefined {
  return runsEtcd(settings) && settings.advertiseIp ? JOINABLE_RAFT.electionMs : undefined
}

/** Whether etcd runs on this host: the first host's, or a member that joined; not on a client-only host. */
export function runsEtcd(settings: Pick<Settings, 'etcdEndpoints'>): boolean {
  return settings.etcdEndpoints.length === 0
}

/**
 * etcd's peer listener and cluster: on loopback alone while no other host may join; on the advertise
 * address once one is given. A member that joined starts into the cluster as it found it (`existing`).
 */
function peerFlags(settings: Settings): string[] {
  const name = settings.etcdMember?.name ?? 'highway'
  const peer = settings.advertiseIp ? peerUrl(settings.advertiseIp) : `https://127.0.0.1:${INFRA_PORTS.etcdPeer}`
  return [
    `--listen-peer-urls=https://${settings.advertiseIp ? '0.0.0.0' : '127.0.0.1'}:${INFRA_PORTS.etcdPeer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=${settings.etcdMember?.initialCluster ?? `${name}=${peer}`}`,
    ...(settings.etcdMember ? ['--initial-cluster-state=existing'] : []),
  ]
}

/**
 * The DNS and proxy published a second time, on the host-side address, when the host cannot reach
 * the bridge (Settings.hostIp); the DNS to its host instance, which answers that address.
 */
function hostSidePorts(settings: Settings, port: number, containerPort: number): ComponentSpec['ports'] {
  if (!settings.hostIp) return []
  const protocols: Array<'tcp' | 'udp'> = port === INFRA_PORTS.dns ? ['udp', 'tcp'] : ['tcp']
  return protocols.map((protocol) => ({address: settings.hostIp!, containerPort, port, protocol}))
}

/** The containers `highway up` runs, in start order. Pure: the same settings give the same specs. */
export function componentSpecs(context: SpecContext): ComponentSpec[] {
  const {settings} = context
  const specs: ComponentSpec[] = []
  if (runsEtcd(settings)) {
    const tls = context.tls.etcd
    if (!tls) throw new Error('etcd runs on this host but was given no certificate')
    const raft = raftOf(settings)
    specs.push(
      container('etcd', context, {
        binds: [`${ETCD_VOLUME}:/var/lib/etcd`],
        volumes: [ETCD_VOLUME],
        cmd: [
          'sh',
          '-c',
          ETCD_START_SCRIPT,
          'highway-etcd',
          ...withTimerSlack(raft.timerSlackMs),
          'etcd',
          `--name=${settings.etcdMember?.name ?? 'highway'}`,
          '--data-dir=/var/lib/etcd/data',
          // 0.0.0.0 inside the container's own namespace, which only the registry network reaches;
          // published on the host's loopback (and the advertise address, when other hosts need it).
          `--listen-client-urls=https://0.0.0.0:${INFRA_PORTS.etcd}`,
          `--advertise-client-urls=${settings.advertiseIp ? `https://${settings.advertiseIp}:${INFRA_PORTS.etcd}` : LOOPBACK_ETCD_URL}`,
          // Mutual TLS: no client without a certificate from highway's CA gets past the handshake, and
          // once auth is on (`up` turns it on) the certificate's CN is the etcd user.
          `--cert-file=${ETCD_TLS_DIR}/etcd.crt`,
          `--key-file=${ETCD_TLS_DIR}/etcd.key`,
          `--trusted-ca-file=${ETCD_TLS_DIR}/ca.crt`,
          '--client-cert-auth',
          // Peers only where other hosts may join (the advertise address); the same rules: nothing in plain text.
          ...peerFlags(settings),
          `--peer-cert-file=${ETCD_TLS_DIR}/etcd.crt`,
          `--peer-key-file=${ETCD_TLS_DIR}/etcd.key`,
          `--peer-trusted-ca-file=${ETCD_TLS_DIR}/ca.crt`,
          '--peer-client-cert-auth',
          // A peer's source address may be its host's NAT, not the address its certificate names: the CA is what counts.
          ...(settings.advertiseIp ? ['--experimental-peer-skip-client-san-verification'] : []),
          // etcd ticks its raft clock every heartbeat for as long as it runs, most of its idle CPU
          // (measured alone: 10 ms ticks 0.87% of a core, 50 ms 0.35%, 100 ms 0.26%). One member on one
          // host: a lone member skips to the last tick of its election timeout, and so leads 1-5 ticks
          // after it starts, only when it knows it is alone: at its first start, or restarting from a
          // raft snapshot. Without one (etcd's default takes one every 100,000 entries) a restart waits
          // a whole randomised timeout, 5-10 ticks: a snapshot every 20 entries makes every restart the
          // fast kind, so 100 ms ticks elect in 100-500 ms (each up to the timer slack later), while
          // `up` starts the other components (infra/up.ts): the election is off `up`'s critical path,
          // and the ticks cost a third less.
          // Where other hosts may join, etcd's own defaults: short heartbeats between busy hosts flap the
          // leadership, and every new leader extends every lease by its TTL (a dead host's routes stay).
          `--heartbeat-interval=${raft.heartbeatMs}`,
          `--election-timeout=${raft.electionMs}`,
          // Clients ping every second (src/registry/etcd.ts) to find a member that vanished, its host cut
          // off, and move their watches well within a lease TTL; etcd's floor is 5 s unless told.
          '--grpc-keepalive-min-time=1s',
          '--snapshot-count=20',
          // Its store commits pending writes every interval (WAL has them already): wake every 10 s, not 100 ms.
          '--backend-batch-interval=10s',
          '--auto-compaction-mode=periodic',
          '--auto-compaction-retention=1h',
          '--log-level=warn',
        ],
        env: [
          // etcd reads ETCD_<FLAG> for any flag the command line leaves out.
          `ETCD_QUOTA_BACKEND_BYTES=${ETCD_QUOTA_BYTES}`,
          // One OS thread runs Go code: a timer's wakeup no longer spins up idle threads (idle CPU -30%).
          'GOMAXPROCS=1',
          // Go's heap may grow to twice what is live before it collects; half that with 1,000 names held
          // etcd at 17.6-19.7 MiB in five runs, where 18.1-21.7 before. Idle, it collects every 2 min either way.
          'GOGC=50',
          `HIGHWAY_TLS_CA=${tls.ca}`,
          `HIGHWAY_TLS_CERT=${tls.cert}`,
          `HIGHWAY_TLS_KEY=${tls.key}`,
        ],
        network: REGISTRY_NETWORK,
        ports: [
          {address: '127.0.0.1', port: INFRA_PORTS.etcd, protocol: 'tcp'},
          ...(settings.advertiseIp
            ? [
                {address: settings.advertiseIp, port: INFRA_PORTS.etcd, protocol: 'tcp' as const},
                {address: settings.advertiseIp, port: INFRA_PORTS.etcdPeer, protocol: 'tcp' as const},
              ]
            : []),
        ],
      }),
    )
  }
  const initial = renderProxyConfig({domain: settings.domain, records: []})
  specs.push(
    container('proxy', context, {
      binds: [`${PROXY_VOLUME}:${RUN_DIR}`],
      volumes: [PROXY_VOLUME],
      cmd: [
        'sh',
        '-c',
        // The agent owns the config once it runs; a restarted proxy keeps the agent's last rendering.
        // The master socket is the group's (the run directory is setgid `highway`): the agent is in that group.
        `[ -s ${CONFIG_PATH} ] || { printf '%s' "$HIGHWAY_INITIAL_CONFIG" > ${CONFIG_PATH}; : > ${initial.mapPath}; : > ${initial.statesPath}; }; ` +
          `exec haproxy -W -db -S ${MASTER_SOCKET},mode,660 -f ${CONFIG_PATH}`,
      ],
      env: [`HIGHWAY_INITIAL_CONFIG=${initial.config}`],
      ports: [{address: settings.bridgeIp, port: INFRA_PORTS.http, protocol: 'tcp'}, ...hostSidePorts(settings, INFRA_PORTS.http, INFRA_PORTS.http)],
    }),
    container('dns', context, {
      cmd: dnsCommand({
        bridgeIp: settings.bridgeIp,
        domain: settings.domain,
        hostIp: settings.hostIp,
        hostsDir: settings.tcpRange ? NAMES_DIR : undefined,
        upstreams: settings.upstreamDns,
      }),
      ...(settings.tcpRange && {binds: [`${NAMES_VOLUME}:${NAMES_DIR}:ro`], volumes: [NAMES_VOLUME]}),
      ports: [
        {address: settings.bridgeIp, port: INFRA_PORTS.dns, protocol: 'udp'},
        {address: settings.bridgeIp, port: INFRA_PORTS.dns, protocol: 'tcp'},
        ...hostSidePorts(settings, INFRA_PORTS.dns, HOST_DNS_CONTAINER_PORT),
      ],
    }),
  )
  if (settings.tcpRange) {
    specs.push(
      container('tcp', context, {
        // The agent's table read-only; the names' hosts file it writes for dnsmasq in a volume of their own.
        binds: [`${PROXY_VOLUME}:${RUN_DIR}:ro`, `${NAMES_VOLUME}:${NAMES_DIR}`],
        cmd: ['sh', '-c', TCP_START_SCRIPT],
        env: [`HIGHWAY_TCP_RANGE=${settings.tcpRange}`, `HIGHWAY_BRIDGE_IP=${settings.bridgeIp}`, `HIGHWAY_DOMAIN=${settings.domain}`],
        hostNetwork: true,
        volumes: [PROXY_VOLUME, NAMES_VOLUME],
      }),
    )
  }
  specs.push(
    container('agent', context, {
      binds: [`${context.dockerSocket}:/var/run/docker.sock`, `${PROXY_VOLUME}:${RUN_DIR}`],
      cmd: ['node', ...NODE_FLAGS, '/opt/highway/lib/agent.cjs'],
      volumes: [PROXY_VOLUME],
      // Its only peer is etcd (Docker is a unix socket, the proxy a shared volume): this host's, on the
      // registry network; another host's, through the default bridge's way out. No registry network is
      // made where no etcd runs: its subnet would be one more that other hosts might route elsewhere.
      network: runsEtcd(settings) ? REGISTRY_NETWORK : undefined,
      env: [
        `HIGHWAY_HOST_ID=${settings.hostId ?? ''}`,
        `HIGHWAY_DOMAIN=${settings.domain}`,
        `HIGHWAY_BRIDGE_IP=${settings.bridgeIp}`,
        ...(settings.advertiseIp ? [`HIGHWAY_ADVERTISE_IP=${settings.advertiseIp}`] : []),
        ...(settings.tcpRange ? [`HIGHWAY_TCP_RANGE=${settings.tcpRange}`] : []),
        ...(settings.leaseTtl && settings.leaseTtl !== DEFAULT_SETTINGS.leaseTtl ? [`HIGHWAY_LEASE_TTL=${settings.leaseTtl}`] : []),
        // Its lease is shorter where its own member might be the leader that dies with the host, leaving
        // other hosts to elect another (leaseFor); with no advertise address there are no other hosts.
        ...(memberElectionMs(settings) ? [`HIGHWAY_ETCD_ELECTION_MS=${memberElectionMs(settings)}`] : []),
        `HIGHWAY_ETCD=${(runsEtcd(settings) ? [AGENT_ETCD_URL, ...(settings.etcdPeers ?? [])] : settings.etcdEndpoints).join(',')}`,
        // Its etcd identity, in its environment like everything else `up` tells it (see ETCD_TLS_DIR).
        ...(context.tls.agent
          ? [`HIGHWAY_ETCD_CA=${context.tls.agent.ca}`, `HIGHWAY_ETCD_CERT=${context.tls.agent.cert}`, `HIGHWAY_ETCD_KEY=${context.tls.agent.key}`]
          : []),
        ...(process.env.HIGHWAY_DEBUG ? ['HIGHWAY_DEBUG=1'] : []),
      ],
    }),
  )
  return specs
}
