import {UserError} from '../core/errors.js'
import {REPLICA_OF, SERVICE, SERVICE_PORTS} from '../core/labels.js'
import {assertIPv4, assertServiceName, isPort} from '../core/validate.js'

/*
 * `highway run` hands its argv to the docker CLI nearly untouched, so it must split that argv
 * exactly where docker would: at the first token that is neither a flag nor a flag's value. That
 * needs to know which flags take a value, hence the table below (docker/cli `run` + `addFlags`,
 * Docker 20.10 to 28, including hidden aliases and deprecated flags docker still accepts). A flag
 * missing here would make us take its value for IMAGE, so unknown flags are an error, not a guess.
 */

/** Flags that never consume the next token; `--flag=false` is their only way to take a value. */
const BOOLEAN_FLAGS = new Set([
  'detach',
  'disable-content-trust',
  'help',
  'init',
  'interactive',
  'no-healthcheck',
  'oom-kill-disable',
  'privileged',
  'publish-all',
  'quiet',
  'read-only',
  'rm',
  'sig-proxy',
  'tty',
  'use-api-socket',
])

const VALUE_FLAGS = new Set([
  // run-only
  'detach-keys',
  'name',
  'platform',
  'pull',
  // general
  'annotation',
  'attach',
  'device',
  'device-cgroup-rule',
  'domainname',
  'entrypoint',
  'env',
  'env-file',
  'gpus',
  'group-add',
  'hostname',
  'label',
  'label-file',
  'restart',
  'stop-signal',
  'stop-timeout',
  'sysctl',
  'ulimit',
  'user',
  'workdir',
  // security and namespaces
  'cap-add',
  'cap-drop',
  'cgroupns',
  'security-opt',
  'userns',
  // network
  'add-host',
  'dns',
  'dns-opt',
  'dns-option',
  'dns-search',
  'expose',
  'ip',
  'ip6',
  'link',
  'link-local-ip',
  'mac-address',
  'net',
  'net-alias',
  'network',
  'network-alias',
  'publish',
  // logging and storage
  'log-driver',
  'log-opt',
  'mount',
  'storage-opt',
  'tmpfs',
  'volume',
  'volume-driver',
  'volumes-from',
  // health
  'health-cmd',
  'health-interval',
  'health-retries',
  'health-start-interval',
  'health-start-period',
  'health-timeout',
  // resources
  'blkio-weight',
  'blkio-weight-device',
  'cidfile',
  'cpu-count',
  'cpu-percent',
  'cpu-period',
  'cpu-quota',
  'cpu-rt-period',
  'cpu-rt-runtime',
  'cpu-shares',
  'cpus',
  'cpuset-cpus',
  'cpuset-mems',
  'device-read-bps',
  'device-read-iops',
  'device-write-bps',
  'device-write-iops',
  'io-maxbandwidth',
  'io-maxiops',
  'kernel-memory',
  'memory',
  'memory-reservation',
  'memory-swap',
  'memory-swappiness',
  'oom-score-adj',
  'pids-limit',
  'shm-size',
  // low-level execution
  'cgroup-parent',
  'ipc',
  'isolation',
  'pid',
  'runtime',
  'uts',
])

/**
 * highway's own flags: docker has no such flag, so they are taken out of the argv (wherever they
 * stand before IMAGE) and the rest is passed on as written. `--replace` alone takes no value.
 */
const HIGHWAY_FLAGS = new Set(['replica-of', 'replace', 'replace-timeout'])
const HIGHWAY_BOOLEAN_FLAGS = new Set(['replace'])

/** How long `--replace` waits for the new container to answer, unless --replace-timeout says otherwise. */
export const DEFAULT_REPLACE_TIMEOUT_SECONDS = 60

/** `-h` is --hostname, as in docker: `docker run --help` has no short form. */
const SHORT_FLAGS: Readonly<Record<string, string>> = {
  a: 'attach',
  c: 'cpu-shares',
  d: 'detach',
  e: 'env',
  h: 'hostname',
  i: 'interactive',
  l: 'label',
  m: 'memory',
  p: 'publish',
  P: 'publish-all',
  q: 'quiet',
  t: 'tty',
  u: 'user',
  v: 'volume',
  w: 'workdir',
}

export interface ParsedRun {
  /** The user's docker flags, exactly as written, in order (tokens before IMAGE), without highway's own. */
  flags: string[]
  image: string
  /** Everything after IMAGE, untouched (a -d or --help there belongs to the container's command). */
  command: string[]
  name?: string
  /** `--replica-of NAME`: join NAME's traffic beside its owner rather than claim a name of its own. */
  replicaOf?: string
  /** `--replace`: redeploy the container named --name without a failed request (service/replace.ts). */
  replace: boolean
  /** `--replace-timeout SECONDS`: how long the new container gets to answer. */
  replaceTimeoutSeconds: number
  detach: boolean
  /** Each -p/--publish value, with the index in `flags` of the token holding the value. */
  publish: Array<{spec: string; tokenIndex: number; attached: 'separate' | 'equals' | 'short'}>
  /** true when --help appears before IMAGE (then highway shows its own help). */
  help: boolean
}

type Attached = ParsedRun['publish'][number]['attached']

const HELP_SUGGESTION = 'check `docker run --help` for the flags docker accepts'
const USAGE = 'highway run [docker run flags] IMAGE [COMMAND] [ARG...]'

function unknownFlag(flag: string): UserError {
  return new UserError(`unknown docker run flag "${flag}"`, {suggestion: HELP_SUGGESTION})
}

function missingValue(flag: string, whose = 'docker run'): UserError {
  return new UserError(`${whose} flag "${flag}" needs a value`, {suggestion: `usage: ${USAGE}`})
}

/** The spellings Go's strconv.ParseBool accepts, since docker parses `--rm=...` with it. */
function parseBool(flag: string, value: string): boolean {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(value)) return true
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(value)) return false
  throw new UserError(`invalid value "${value}" for docker run flag "${flag}": expected true or false`)
}

/**
 * Splits `[docker run flags] IMAGE [COMMAND ARGS...]` the way docker's flag parser (pflag, with
 * interspersed arguments off) does, without reordering or rewriting anything.
 */
export function parseRunArgs(argv: string[]): ParsedRun {
  const parsed: ParsedRun = {
    flags: [],
    image: '',
    command: [],
    detach: false,
    publish: [],
    help: false,
    replace: false,
    replaceTimeoutSeconds: DEFAULT_REPLACE_TIMEOUT_SECONDS,
  }

  const setBool = (long: string, value: boolean): void => {
    if (long === 'detach') parsed.detach = value
    else if (long === 'help') parsed.help = value
  }
  const setValue = (long: string, value: string, tokenIndex: number, attached: Attached): void => {
    if (long === 'name') parsed.name = value
    else if (long === 'publish') parsed.publish.push({spec: value, tokenIndex, attached})
  }

  // Where IMAGE sits; argv.length means no IMAGE was given.
  let imageIndex = argv.length
  // Tokens of highway's own flags, left out of what docker gets.
  const ours = new Set<number>()
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]
    if (token === '--') {
      imageIndex = i + 1
      break
    }
    // A lone "-" is a positional argument to pflag, so it is (a bad) IMAGE, not a flag.
    if (!token.startsWith('-') || token === '-') {
      imageIndex = i
      break
    }

    if (token.startsWith('--')) {
      const eq = token.indexOf('=')
      const long = eq === -1 ? token.slice(2) : token.slice(2, eq)
      const shown = `--${long}`
      if (HIGHWAY_BOOLEAN_FLAGS.has(long)) {
        ours.add(i)
        parsed.replace = eq === -1 ? true : parseBool(shown, token.slice(eq + 1))
      } else if (HIGHWAY_FLAGS.has(long)) {
        ours.add(i)
        if (eq === -1) {
          if (i + 1 >= argv.length) throw missingValue(shown, 'highway')
          ours.add(++i)
        }
        const value = eq === -1 ? argv[i] : token.slice(eq + 1)
        if (long === 'replica-of') parsed.replicaOf = value
        else parsed.replaceTimeoutSeconds = parseTimeoutSeconds(shown, value)
      } else if (BOOLEAN_FLAGS.has(long)) {
        setBool(long, eq === -1 ? true : parseBool(shown, token.slice(eq + 1)))
      } else if (VALUE_FLAGS.has(long)) {
        if (eq !== -1) {
          setValue(long, token.slice(eq + 1), i, 'equals')
        } else {
          // Like pflag, the next token is the value whatever it looks like (`--entrypoint -x` is valid).
          if (i + 1 >= argv.length) throw missingValue(shown)
          i++
          setValue(long, argv[i], i, 'separate')
        }
      } else {
        throw unknownFlag(shown)
      }
      continue
    }

    // A cluster of short flags: booleans until the first value flag, which takes the rest.
    const shorts = token.slice(1)
    for (let j = 0; j < shorts.length; j++) {
      const letter = shorts[j]
      const long = Object.hasOwn(SHORT_FLAGS, letter) ? SHORT_FLAGS[letter] : undefined
      if (long === undefined) throw unknownFlag(`-${letter}`)
      const rest = shorts.slice(j + 1)
      // pflag reads `-x=v` as an explicit value only when something follows the '='.
      const explicit = rest.length > 1 && rest.startsWith('=') ? rest.slice(1) : undefined
      if (BOOLEAN_FLAGS.has(long)) {
        if (explicit !== undefined) {
          setBool(long, parseBool(`-${letter}`, explicit))
          break
        }
        setBool(long, true)
        continue
      }
      if (rest.length > 0) {
        setValue(long, explicit ?? rest, i, 'short')
      } else {
        if (i + 1 >= argv.length) throw missingValue(`-${letter}`)
        i++
        setValue(long, argv[i], i, 'separate')
      }
      break
    }
  }

  // Dropping highway's tokens shifts the ones after them: each -p keeps pointing at its own token.
  const kept = new Map<number, number>()
  for (let i = 0; i < Math.min(imageIndex, argv.length); i++) if (!ours.has(i)) kept.set(i, kept.size)
  parsed.flags = [...kept.keys()].map((i) => argv[i])
  parsed.publish = parsed.publish.map((publish) => ({...publish, tokenIndex: kept.get(publish.tokenIndex) ?? -1}))
  if (imageIndex >= argv.length) {
    // `highway run --help` alone is a request for help, not a mistake.
    if (parsed.help) return parsed
    throw new UserError('missing IMAGE: nothing to run', {suggestion: `usage: ${USAGE}`})
  }
  parsed.image = argv[imageIndex]
  parsed.command = argv.slice(imageIndex + 1)
  // Docker keeps the last --name; earlier ones never reach the engine, so only the last must be valid.
  if (parsed.name !== undefined) assertServiceName(parsed.name)
  if (parsed.replicaOf !== undefined) {
    assertServiceName(parsed.replicaOf)
    if (parsed.publish.length === 0) {
      throw new UserError(`--replica-of ${parsed.replicaOf} needs a published port to route to`, {suggestion: 'add -p CONTAINERPORT, e.g. -p 9090'})
    }
  }
  if (parsed.replace && !parsed.help) checkReplace(parsed)
  return parsed
}

function parseTimeoutSeconds(flag: string, value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    throw new UserError(`invalid value "${value}" for highway flag "${flag}": expected whole seconds, at least 1`, {suggestion: `e.g. ${flag} 120`})
  }
  return Number(value)
}

/**
 * What `--replace` needs before anything is created: a detached service with a name (the container
 * it replaces), a port to route to, and host ports docker picks (the new container runs beside the
 * old one, so a fixed host port would be taken).
 */
function checkReplace(parsed: ParsedRun): void {
  const usage = 'usage: highway run -d --name NAME --replace -p CONTAINERPORT [docker run flags] IMAGE'
  if (!parsed.detach) throw new UserError('--replace needs -d: the swap happens while the old container keeps serving', {suggestion: usage})
  if (parsed.name === undefined) throw new UserError('--replace needs --name NAME: the name of the container to replace', {suggestion: usage})
  if (parsed.replicaOf !== undefined) {
    throw new UserError('--replace and --replica-of do not go together', {suggestion: `replace a replica by its own --name: ${usage}`})
  }
  if (parsed.publish.length === 0) throw new UserError(`--replace needs a published port to route ${parsed.name} to`, {suggestion: usage})
  for (const {spec} of parsed.publish) {
    if (parsePublishSpec(spec).hostPortFixed) {
      throw new UserError(`--replace cannot keep the fixed host port in -p ${spec}: old and new containers run side by side`, {
        suggestion: 'publish the container port alone (-p 9090): the proxy finds the port docker picks',
      })
    }
  }
}

/**
 * The name the container is routed under: `--replica-of`'s, else `--name`'s; none without a
 * published port (nothing to route to).
 */
export function serviceName(parsed: ParsedRun): string | undefined {
  if (parsed.publish.length === 0) return undefined
  return parsed.replicaOf ?? parsed.name
}

export interface Rewrite {
  bridgeIp: string
  /** This host's address for other hosts (`up --advertise-ip`): bare -p ports are published there too. */
  advertiseIp?: string
}

export interface ServicePort {
  containerPort: number
  protocol: 'tcp' | 'udp'
}

interface PublishSpec {
  /** Only a container port was given: docker would publish it on every interface. */
  bare: boolean
  /** A host port other than 0 was given: two containers cannot both publish it. */
  hostPortFixed: boolean
  /** The container side, as written ("80" or "8000-8001"). */
  containerPort: string
  start: number
  end: number
  protocol: 'tcp' | 'udp' | 'sctp'
}

function invalidPort(value: string, spec: string, why = 'expected a number from 1 to 65535'): UserError {
  return new UserError(`invalid port "${value}" in -p ${spec}: ${why}`, {
    suggestion: 'publish as CONTAINERPORT[/udp], HOSTPORT:CONTAINERPORT or IP:HOSTPORT:CONTAINERPORT, e.g. -p 9090',
  })
}

/** "80" or "8000-8010"; `allowZero` because docker reads host port 0 as "any free port". */
function parsePortRange(value: string, spec: string, allowZero: boolean): {start: number; end: number} {
  const match = /^(\d+)(?:-(\d+))?$/.exec(value)
  if (!match) throw invalidPort(value, spec)
  const start = Number(match[1])
  const end = match[2] === undefined ? start : Number(match[2])
  const valid = (port: number): boolean => isPort(port) || (allowZero && port === 0)
  if (!valid(start) || !valid(end)) throw invalidPort(value, spec)
  if (end < start) throw invalidPort(value, spec, 'the range ends before it starts')
  return {start, end}
}

function parseProtocol(value: string, spec: string): PublishSpec['protocol'] {
  const protocol = value.toLowerCase()
  if (protocol === 'tcp' || protocol === 'udp' || protocol === 'sctp') return protocol
  throw new UserError(`invalid protocol "${value}" in -p ${spec}: use tcp or udp`)
}

/**
 * Reads a -p value the way docker does: the long form `published=8080,target=80,protocol=udp`, or
 * `[[IP:][HOSTPORT]:]CONTAINERPORT[/PROTO]` where IP may hold colons (IPv6), so the container and
 * host ports are the last two colon-separated parts.
 */
function parsePublishSpec(spec: string): PublishSpec {
  if (spec.includes('=')) {
    const params = new Map<string, string>()
    for (const param of spec.split(',')) {
      const eq = param.indexOf('=')
      if (eq <= 0) {
        throw new UserError(`invalid -p ${spec}: "${param}" is not name=value`, {
          suggestion: 'use target=CONTAINERPORT[,published=HOSTPORT][,protocol=udp]',
        })
      }
      params.set(param.slice(0, eq), param.slice(eq + 1))
    }
    const target = params.get('target') ?? ''
    const published = params.has('published') ? parsePortRange(params.get('published') ?? '', spec, true) : undefined
    return {
      bare: false,
      hostPortFixed: published !== undefined && published.end > 0,
      containerPort: target,
      ...parsePortRange(target, spec, false),
      protocol: parseProtocol(params.get('protocol') ?? 'tcp', spec),
    }
  }

  const parts = spec.split(':')
  const last = parts[parts.length - 1]
  const slash = last.indexOf('/')
  const containerPort = slash === -1 ? last : last.slice(0, slash)
  const protocolText = slash === -1 ? '' : last.slice(slash + 1)
  // Docker reads "80/" as tcp; anything past a second slash it would silently drop, so refuse it.
  const protocol = protocolText === '' ? 'tcp' : parseProtocol(protocolText, spec)
  const published = parts.length >= 2 && parts[parts.length - 2] !== '' ? parsePortRange(parts[parts.length - 2], spec, true) : undefined
  return {
    bare: parts.length === 1,
    containerPort,
    hostPortFixed: published !== undefined && published.end > 0,
    ...parsePortRange(containerPort, spec, false),
    protocol,
  }
}

/**
 * The ports a service is reached on, from every -p, in the order written (the first gets HTTP),
 * each port/protocol once. Host-port ranges are fine; a container-port range is not, since a name
 * routes to one port.
 */
export function servicePorts(parsed: ParsedRun): ServicePort[] {
  const ports: ServicePort[] = []
  for (const {spec} of parsed.publish) {
    const port = parsePublishSpec(spec)
    if (port.start !== port.end) {
      throw new UserError(`port range "${port.containerPort}" in -p ${spec} is not routable by name`, {
        suggestion: 'publish each port the service should be reached on with its own -p',
      })
    }
    if (port.protocol === 'sctp') {
      throw new UserError(`sctp port in -p ${spec} is not routable by name: highway routes tcp and udp`)
    }
    if (!ports.some((p) => p.containerPort === port.start && p.protocol === port.protocol)) {
      ports.push({containerPort: port.start, protocol: port.protocol})
    }
  }
  return ports
}

/**
 * The argv for the docker CLI. Our own flags go first so the user's flags, which follow, keep
 * docker's last-one-wins say where they repeat a single-valued flag; list flags such as --dns and
 * --label simply accumulate. Bare -p specs would bind every host interface, so they are pinned to
 * the bridge address, in the token shape the user wrote; with an advertise address, each is also
 * published there (a -p of our own), where other hosts' proxies reach it whatever their bridge subnet.
 */
export function dockerRunArgv(parsed: ParsedRun, rewrite: Rewrite): string[] {
  if (parsed.image === '') throw new Error('dockerRunArgv needs a parsed IMAGE (was --help given?)')
  const bridgeIp = assertIPv4(rewrite.bridgeIp, 'bridge address')
  const advertiseIp = rewrite.advertiseIp ? assertIPv4(rewrite.advertiseIp, 'advertise address') : undefined

  const argv = ['run', '--dns', bridgeIp]
  const name = serviceName(parsed)
  if (name !== undefined) {
    const ports = servicePorts(parsed).map((p) => `${p.containerPort}/${p.protocol}`)
    argv.push('--label', `${SERVICE}=${name}`, '--label', `${SERVICE_PORTS}=${ports.join(',')}`)
    if (parsed.replicaOf !== undefined) argv.push('--label', `${REPLICA_OF}=${name}`)
  }

  const flags = [...parsed.flags]
  for (const {spec, tokenIndex} of parsed.publish) {
    if (!parsePublishSpec(spec).bare) continue
    const token = flags[tokenIndex]
    // The value is always the token's tail ("9090", "-p9090", "--publish=9090"), so swap just the tail.
    if (token === undefined || !token.endsWith(spec)) {
      throw new Error(`publish spec "${spec}" is not at the end of flags[${tokenIndex}]`)
    }
    flags[tokenIndex] = `${token.slice(0, token.length - spec.length)}${bridgeIp}::${spec}`
    if (advertiseIp && advertiseIp !== bridgeIp) argv.push('-p', `${advertiseIp}::${spec}`)
  }

  return [...argv, ...flags, parsed.image, ...parsed.command]
}
