/**
 * `highway doctor`'s checks, hop by hop (report.ts runs and reports them). Each asks what the
 * modules that do the work already know how to ask: infra/status (containers and their health),
 * the resolvers module (mechanism, dns-setup's record, traps, a lookup through the OS's path),
 * service/list (etcd against Docker), the same probes `up` waits on.
 */
import {networkInterfaces} from 'node:os'
import type {Clients} from '../clients.js'
import {isUserError} from '../core/errors.js'
import {MANAGED, type Component} from '../core/labels.js'
import {etcdEndpoints, hostSideIp} from '../core/settings.js'
import {INFRA_PORTS, type Settings} from '../core/types.js'
import type {DockerClient} from '../docker/types.js'
import {ONE_SHOT} from '../infra/components.js'
import {runOnce} from '../infra/containers.js'
import {probeEtcd} from '../infra/probes.js'
import {collectStatus, type Status} from '../infra/status.js'
import {HIGHWAY_HEADER} from '../proxy/haproxy.js'
import {routeState} from '../proxy/client.js'
import {currentPlatform, defaultDnsQuery, systemRunner, checkRuntimeSetup, type ResolverContext} from '../resolvers/index.js'
import {detect} from '../resolvers/detect.js'
import {observeForApply} from '../resolvers/observe.js'
import {buildPlan} from '../resolvers/plan.js'
import {RootFs} from '../resolvers/root-fs.js'
import {findTraps} from '../resolvers/traps.js'
import type {Detection} from '../resolvers/types.js'
import {verifyResolution} from '../resolvers/verify.js'
import {listServices} from '../service/list.js'
import {findPortHolder, type PortHolder} from './ports.js'
import {runSteps, type CheckResult, type CheckStep, type DoctorReport} from './report.js'

type Result = Omit<CheckResult, 'hop'>

/** The name doctor resolves and asks the proxy for: under the domain, never a service's. */
export const probeName = (domain: string) => `highway-probe.${domain}`

/** A reconcile older than this (three of the agent's 30 s periods) means the agent is stuck. */
const RECONCILE_STALE_MS = 90_000
/** The agent registers a new container within milliseconds; a miss is looked at again after this, so a container started during doctor is not taken for a lag. */
const LAG_RECHECK_MS = 1500

const BOUND: Array<{component: Extract<Component, 'dns' | 'proxy'>; port: number; protocol: 'tcp' | 'udp'}> = [
  {component: 'dns', port: INFRA_PORTS.dns, protocol: 'udp'},
  {component: 'dns', port: INFRA_PORTS.dns, protocol: 'tcp'},
  {component: 'proxy', port: INFRA_PORTS.http, protocol: 'tcp'},
]

/**
 * What a container started by `highway run` does, in node (highway's image has it): the name
 * through getaddrinfo (glibc, nsswitch, the --dns server, as any program in the container), then an
 * HTTP request for it. The exit code says which part failed: runOnce reports only that.
 */
const IN_CONTAINER = `
const [name, expected, header] = process.argv.slice(1)
require('dns').lookup(name, {family: 4}, (error, address) => {
  if (error) process.exit(3)
  if (address !== expected) process.exit(5)
  const request = require('http').get({host: address, port: ${INFRA_PORTS.http}, headers: {host: name}, timeout: 3000}, (response) => {
    process.exit(response.headers[header] ? 0 : 4)
  })
  request.on('timeout', () => request.destroy(new Error('timeout')))
  request.on('error', () => process.exit(4))
})`

const ok = (id: string, detail: string): Result => ({detail, fix: null, id, status: 'ok'})

interface Found {
  docker?: DockerClient
  status?: Status
  holders: Map<string, PortHolder | null>
  runtimeSetup?: Awaited<ReturnType<typeof checkRuntimeSetup>>
  detection?: Detection
}

function isLocalAddress(address: string): boolean {
  return Object.values(networkInterfaces()).some((addresses) => (addresses ?? []).some((candidate) => candidate.address === address))
}

export interface DoctorOptions {
  /** The directory standing for / in resolver checks (tests); '/' on a real machine. */
  root?: string
}

/** Every check, in hop order. */
export function doctorSteps(clients: Clients, settings: Settings, options: DoctorOptions = {}): CheckStep[] {
  const found: Found = {holders: new Map()}
  const {bridgeIp, domain} = settings
  // Where this host reaches the DNS and proxy: the bridge, or the host-side address where the bridge is out of reach.
  const hostIp = hostSideIp(settings)
  const name = probeName(domain)
  const resolverContext = (): ResolverContext => ({
    dnsQuery: defaultDnsQuery,
    env: clients.env,
    platform: currentPlatform(),
    root: options.root ?? '/',
    runner: systemRunner(),
  })
  const docker = () => found.docker!
  const componentContainer = (component: Component) => found.status?.components.find((status) => status.component === component)

  const engine: CheckStep = {
    hop: 'engine',
    needs: [],
    async run() {
      found.docker = await clients.docker()
      return [ok('engine', `Docker engine at ${found.docker.engine.address} answers`)]
    },
  }

  const components: CheckStep = {
    hop: 'components',
    needs: ['engine'],
    async run() {
      if (!bridgeIp) return [{detail: 'highway is not set up on this host', fix: 'highway up', id: 'components.settings', status: 'fail'}]
      const status = await collectStatus(clients, settings)
      found.status = status
      // A component that cannot run because another holds its port: freeing the port is the fix.
      for (const bound of BOUND) {
        if (componentContainer(bound.component)?.state === 'running') continue
        found.holders.set(`${bound.port}/${bound.protocol}`, await findPortHolder(docker(), bridgeIp, bound.port, bound.protocol))
      }
      const results: Result[] = [ok('components.settings', `domain .${domain}, bridge ${bridgeIp} (saved by highway up)`)]
      for (const component of status.components) {
        const id = `components.${component.component}`
        const what = `${component.component}: ${component.container ?? 'no container'} ${component.state}, ${component.health}`
        if (component.ok) {
          results.push(ok(id, what))
          continue
        }
        const holder = BOUND.filter((bound) => bound.component === component.component)
          .map((bound) => found.holders.get(`${bound.port}/${bound.protocol}`))
          .find(Boolean)
        const running = component.state === 'running'
        const fix = holder ? `${holder.release} && highway up` : running && component.container ? `docker restart ${component.container}` : 'highway up'
        results.push({detail: holder ? `${what}; its port is held by ${holder.description}` : what, fix, id, status: 'fail'})
      }
      return results
    },
  }

  const bridge: CheckStep = {
    hop: 'bridge',
    needs: ['engine', 'components.settings'],
    async run() {
      const gateway = await docker()
        .engine.bridgeGateway()
        .catch(() => null)
      if (!isLocalAddress(bridgeIp)) {
        if (settings.hostIp)
          return [ok('bridge', `${bridgeIp} is out of this host's reach; this host uses ${settings.hostIp}, where the DNS and proxy are also published`)]
        return [
          {
            detail: `${bridgeIp} is not an address of this host: highway's DNS and proxy cannot listen there, nor this host reach them (an engine in a VM, rootless or remote)`,
            fix: gateway && gateway !== bridgeIp && isLocalAddress(gateway) ? `highway up --bridge-ip ${gateway}` : 'highway up --host-ip 127.0.0.1',
            id: 'bridge',
            status: 'fail',
          },
        ]
      }
      if (gateway && gateway !== bridgeIp) {
        return [
          {
            detail: `highway listens on ${bridgeIp}, Docker's bridge gateway is ${gateway} (fine if chosen with --bridge-ip; else docker0 changed)`,
            fix: `highway up --bridge-ip ${gateway}`,
            id: 'bridge',
            status: 'warn',
          },
        ]
      }
      return [ok('bridge', `${bridgeIp} is Docker's bridge gateway and an address of this host`)]
    },
  }

  const ports: CheckStep = {
    hop: 'ports',
    needs: ['engine', 'components.settings'],
    async run() {
      return BOUND.map(({component, port, protocol}) => {
        const id = `ports.${port}/${protocol}`
        const where = `${port}/${protocol} on ${bridgeIp}`
        if (componentContainer(component)?.state === 'running') return ok(id, `${where}: highway's ${component}`)
        const holder = found.holders.get(`${port}/${protocol}`)
        if (!holder) return ok(id, `${where}: free for highway's ${component}`)
        return {
          detail: `${where} is held by ${holder.description}, so highway's ${component} cannot bind it`,
          fix: `${holder.release} && highway up`,
          id,
          status: 'fail',
        }
      })
    },
  }

  const resolver: CheckStep = {
    hop: 'resolver',
    needs: ['components.settings'],
    async run() {
      const context = resolverContext()
      const results: Result[] = []
      let detection: Detection
      try {
        detection = await detect(context, new RootFs(context.root, context.fs))
      } catch (error) {
        if (!isUserError(error)) throw error
        return [{detail: error.message, fix: error.suggestion ?? null, id: 'resolver.mechanism', status: 'fail'}]
      }
      found.detection = detection
      results.push(ok('resolver.mechanism', `this host resolves names with ${detection.description}`))
      const runtime = await checkRuntimeSetup(context.root, context.runner, {bridgeIp: hostIp, domain}, {env: context.env, reapply: false})
      found.runtimeSetup = runtime
      const setup = 'resolver.dns-setup'
      if (runtime.status === 'none') {
        results.push({
          detail: `dns-setup not applied: only containers started by highway run resolve *.${domain}`,
          fix: 'sudo highway dns-setup',
          id: setup,
          status: 'warn',
        })
      } else if (runtime.status === 'ok') {
        results.push(ok(setup, `dns-setup sends .${domain} to ${hostIp}, and it still holds`))
      } else {
        const fix =
          runtime.status === 'changed'
            ? 'sudo highway dns-setup --undo && sudo highway dns-setup'
            : runtime.status === 'missing'
              ? 'sudo highway dns-setup'
              : null
        results.push({detail: runtime.message ?? runtime.status, fix, id: setup, status: 'fail'})
      }
      const traps = findTraps(detection, domain, hostIp).filter((trap) => !trap.handled)
      if (traps.length === 0) results.push(ok('resolver.traps', `no trap for .${domain} (nss-mdns, multicast DNS, a hosts: line without dns)`))
      for (const trap of traps) {
        results.push({detail: trap.message, fix: trap.fix ?? null, id: `resolver.traps.${trap.kind}`, status: trap.blocking ? 'fail' : 'warn'})
      }
      return results
    },
  }

  const host: CheckStep = {
    hop: 'host',
    needs: ['components.dns', 'components.proxy', 'resolver.mechanism', 'resolver.dns-setup'],
    async run() {
      const context = resolverContext()
      const detection = found.detection!
      const rootFs = new RootFs(context.root, context.fs)
      const plan = buildPlan({detection, dnsIp: hostIp, domain, observed: await observeForApply(context, rootFs, detection, domain, hostIp)})
      const verified = await verifyResolution(context, detection, plan)
      if (!verified.ok) {
        if (found.runtimeSetup?.status === 'none') {
          return [
            {detail: `${name} does not resolve through this host's resolver (${verified.via})`, fix: 'sudo highway dns-setup', id: 'host', status: 'warn'},
          ]
        }
        return [{detail: verified.summary, fix: null, id: 'host', status: 'fail'}]
      }
      try {
        const state = await routeState(hostIp, name, {timeoutMs: 3000})
        if (state !== 'none') throw new Error(`answered as if ${name} were ${state}`)
      } catch (error) {
        return [
          {
            detail: `${name} resolves to ${hostIp} (${verified.via}), but the proxy there does not answer for it: ${(error as Error).message}`,
            fix: 'docker restart highway-proxy',
            id: 'host',
            status: 'fail',
          },
        ]
      }
      return [ok('host', `${name} -> ${hostIp} through this host's resolver (${verified.via}), and the proxy answers for it`)]
    },
  }

  const container: CheckStep = {
    hop: 'container',
    needs: ['components.dns', 'components.proxy'],
    async run() {
      const image = componentContainer('dns')?.image
      if (!image) throw new Error("no image to start a probe container from (highway's DNS container has none)")
      const probeName = `highway-doctor-probe-${process.pid}`
      try {
        await runOnce(docker(), {
          Cmd: ['node', '-e', IN_CONTAINER, name, bridgeIp, HIGHWAY_HEADER],
          HostConfig: {CapDrop: ['ALL'], Dns: [bridgeIp], NetworkMode: 'bridge', ReadonlyRootfs: true, SecurityOpt: ['no-new-privileges']},
          Image: image,
          Labels: {[MANAGED]: 'true', [ONE_SHOT]: 'true'},
          User: 'nobody',
          name: probeName,
        })
      } catch (error) {
        const code = Number(/exited with code (\d+)$/.exec((error as Error).message)?.[1])
        const inside = `in a container started like highway run (--dns ${bridgeIp})`
        const failures: Record<number, Result> = {
          3: {
            detail: `${inside}, ${name} does not resolve: the container cannot reach ${bridgeIp}:53 (a firewall on the bridge?)`,
            fix: null,
            id: 'container',
            status: 'fail',
          },
          4: {
            detail: `${inside}, ${name} resolves but the proxy on ${bridgeIp}:80 does not answer (a firewall on the bridge?)`,
            fix: null,
            id: 'container',
            status: 'fail',
          },
          5: {detail: `${inside}, ${name} resolves to another address than ${bridgeIp}`, fix: 'highway up', id: 'container', status: 'fail'},
        }
        return [failures[code] ?? {detail: `${inside}: ${(error as Error).message}`, fix: null, id: 'container', status: 'fail'}]
      }
      return [ok('container', `in a container started like highway run (--dns ${bridgeIp}), ${name} resolves and the proxy answers`)]
    },
  }

  const agent: CheckStep = {
    hop: 'agent',
    needs: ['engine', 'components.etcd'],
    async run() {
      const results: Result[] = []
      const report = found.status?.agent ?? null
      const agentContainer = componentContainer('agent')
      const restart = agentContainer?.state === 'running' && agentContainer.container ? `docker restart ${agentContainer.container}` : 'highway up'
      if (report) {
        const connected = report.dockerConnected && report.etcdConnected
        results.push({
          detail: `docker ${report.dockerConnected ? 'connected' : 'DISCONNECTED'}, etcd ${report.etcdConnected ? 'connected' : 'DISCONNECTED'}`,
          fix: connected ? null : restart,
          id: 'agent.connected',
          status: connected ? 'ok' : 'fail',
        })
        const age = report.reportAgeMs
        const stale = age < 0 || age > RECONCILE_STALE_MS
        results.push({
          detail: age < 0 ? 'has never finished a reconcile' : `last reconcile ${Math.round(age / 1000)} s ago, ${report.routes} routes`,
          fix: stale ? restart : null,
          id: 'agent.reconcile',
          status: stale ? 'warn' : 'ok',
        })
      } else {
        results.push({
          detail: "no report from this host's agent in etcd: it is stopped or cannot reach etcd",
          fix: restart,
          id: 'agent.connected',
          status: 'fail',
        })
      }
      const lagging = async () =>
        (await listServices(clients, settings)).filter(
          (row) =>
            (row.host === '(this host)' && row.state === 'running' && row.problem?.startsWith('not registered')) ||
            row.problem?.startsWith('container is gone'),
        )
      let behind = await lagging()
      if (behind.length > 0) {
        await new Promise((resolve) => setTimeout(resolve, LAG_RECHECK_MS))
        behind = await lagging()
      }
      results.push(
        behind.length === 0
          ? ok('agent.lag', "etcd's records match the containers Docker runs")
          : {
              detail: `etcd lags Docker by ${behind.length} container${behind.length > 1 ? 's' : ''}: ${behind.map((row) => `${row.container} (${row.problem})`).join(', ')}`,
              fix: restart,
              id: 'agent.lag',
              status: 'fail',
            },
      )
      return results
    },
  }

  const registry: CheckStep = {
    hop: 'registry',
    needs: ['components.settings'],
    async run() {
      const endpoints = etcdEndpoints(settings)
      // Where etcd runs as several members (hosts joined with a member's file), each one's health as it says itself.
      const cluster = found.status?.cluster
      const members = cluster && cluster.members.length > 1 ? cluster.members : []
      const memberResults = members.map((member): Result =>
        member.ok
          ? ok(
              `registry.member.${member.name || member.id}`,
              `member ${member.name || member.id} (${member.leader ? 'leader' : member.learner ? 'learner' : 'follower'}): ${member.health}`,
            )
          : {
              detail: `member ${member.name || member.id} at ${member.clientUrls.join(',') || member.peerUrls.join(',')}: ${member.health}`,
              fix: 'run `highway up` on the host of that member (the cluster goes on while a majority answers)',
              id: `registry.member.${member.name || member.id}`,
              status: 'warn',
            },
      )
      const endpointResults = await Promise.all(
        endpoints.map(async (endpoint): Promise<Result> => {
          const id = `registry.${endpoint}`
          try {
            return ok(
              id,
              `${endpoint}: ${await probeEtcd(endpoint, clients.identity())}${endpoints.length > 1 ? ` (one of ${endpoints.length} endpoints)` : ''}`,
            )
          } catch (error) {
            const external = settings.etcdEndpoints.length > 0
            return {detail: `${endpoint}: ${(error as Error).message}`, fix: external ? null : 'highway up', id, status: 'fail'}
          }
        }),
      )
      return [...endpointResults, ...memberResults]
    },
  }

  return [engine, components, bridge, ports, resolver, host, container, agent, registry]
}

/** `highway doctor`: every hop checked, the first failure named with its fix. */
export async function runDoctor(clients: Clients, settings: Settings, options: DoctorOptions = {}): Promise<DoctorReport> {
  return runSteps(doctorSteps(clients, settings, options))
}
