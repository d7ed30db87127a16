import {randomBytes, randomInt} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {createServer, type Server} from 'node:net'
import {TimeoutError, UserError} from '../core/errors.js'
import {waitFor} from '../core/wait.js'
import {DIAL_TIMEOUT_MS} from '../agent/reach.js'
import {unreachable, type RegistryClient} from '../registry/registry.js'
import {PROBE_PORTS, parseReachAnswer, probeKey, reachKey, shown} from '../registry/schema.js'

/** How long `up` waits for the other hosts' answers: a dial's timeout, the watch's way there and back, and room for a busy host. */
export const REACH_WAIT_MS = DIAL_TIMEOUT_MS + 7000
/** The probe's lease: it outlives the wait, and goes by itself if this run dies before revoking it. */
const PROBE_TTL_S = 30

const SUGGESTION = 'give --advertise-ip an address of this host that the other hosts reach (`ip -4 addr`), and check that no firewall drops connections to it'

function listenOn(server: Server, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, address, () => {
      server.off('error', reject)
      resolve()
    })
  })
}

/**
 * The ports the listener picks from: those of PROBE_PORTS (the only ones agents dial) that are also in
 * the kernel's range for local ports, `ip_local_port_range` on Linux (32768-60999 by default), which is
 * where Docker's published ports come from: a firewall that lets the other hosts reach those lets the
 * probe through too. All of PROBE_PORTS where the kernel says nothing (another OS) or the two do not meet.
 */
export function probePortRange(localPortRange?: string): {min: number; max: number} {
  const [low, high] = (localPortRange ?? '').trim().split(/\s+/).map(Number)
  const min = Math.max(low, PROBE_PORTS.min)
  const max = Math.min(high, PROBE_PORTS.max)
  return Number.isInteger(min) && Number.isInteger(max) && min <= max ? {max, min} : {...PROBE_PORTS}
}

function localPortRange(): string | undefined {
  try {
    return readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
  } catch {
    return undefined
  }
}

/** Listens on a free port of probePortRange(), picked at random as the kernel would. */
async function listen(server: Server, address: string): Promise<number> {
  const range = probePortRange(localPortRange())
  for (let attempt = 1; ; attempt++) {
    const port = range.min + randomInt(range.max - range.min + 1)
    try {
      await listenOn(server, address, port)
      return port
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt === 20) throw error
    }
  }
}

/**
 * Refuses an advertise address the other hosts cannot reach: they would route to this host's services
 * there and fail. This run listens on the address (a free port of probePortRange(), the ports an agent
 * dials for a probe) and puts a probe under its own prefix; every other live host's agent dials it,
 * reads the nonce the listener sends and answers under its own prefix (reach.ts in the agent). Every
 * live host reached it: fine. Any said it could not: refused once all have answered (or the wait is
 * over), naming each and why. None answered within REACH_WAIT_MS: refused. Some reached it and the
 * rest stayed silent (an agent that died, its lease not out yet): fine. Needs the engine's machine to
 * be this one (the listener runs here).
 */
export async function assertReachable(
  registry: RegistryClient,
  hostId: string,
  address: string,
  options: {signal?: AbortSignal; waitMs?: number} = {},
): Promise<void> {
  const waitMs = options.waitMs ?? REACH_WAIT_MS
  const reports = await registry.listAgents().catch((error: unknown) => {
    throw unreachable(registry.endpoints, error)
  })
  const others = reports.filter((report) => report.hostId !== hostId)
  if (others.length === 0) {
    throw new UserError(`no other host's agent is running to check that it reaches --advertise-ip ${address}`, {
      suggestion: 'run `highway up` on the first host (or any host of the cluster), then this again',
    })
  }
  const nonce = randomBytes(16).toString('hex')
  const id = randomBytes(8).toString('hex')
  const server = createServer((socket) => {
    socket.on('error', () => {})
    socket.end(`${nonce}\n`)
  })
  const port = await listen(server, address)
  const lease = registry.lease(PROBE_TTL_S)
  const answers = new Map<string, {ok: true} | {ok: false; error: string}>()
  try {
    await lease.grant()
    await lease.put(probeKey(hostId), JSON.stringify({address, id, port}))
    const decided = async () => {
      await Promise.all(
        others.map(async (other) => {
          if (answers.has(other.hostId)) return
          const answer = parseReachAnswer((await registry.get(reachKey(other.hostId, hostId))) ?? '')
          if (answer?.probe !== id) return
          answers.set(other.hostId, answer.nonce === nonce ? {ok: true} : {error: answer.error ?? 'it read another nonce there', ok: false})
        }),
      )
      // Every host's answer, failures too: the refusal names every host that cannot reach the address.
      return answers.size === others.length ? true : undefined
    }
    await waitFor(decided, {interval: 200, message: 'waiting for the other hosts', signal: options.signal, timeout: waitMs}).catch((error: unknown) => {
      if (!(error instanceof TimeoutError)) throw error
    })
  } finally {
    server.close()
    // The probe goes with its lease, and every answer with it.
    await lease.revoke().catch(() => {})
  }
  const name = (hostIdOf: string) => others.find((report) => report.hostId === hostIdOf)?.hostName ?? hostIdOf
  const failures = [...answers].flatMap(([other, answer]) => (answer.ok ? [] : [`${name(other)}: ${shown(answer.error, 120)}`]))
  if (failures.length > 0) {
    throw new UserError(`--advertise-ip ${address} is not reachable from the other hosts (${failures.join('; ')})`, {suggestion: SUGGESTION})
  }
  if (answers.size === 0) {
    throw new UserError(
      `no other host reached --advertise-ip ${address} (port ${port}) within ${waitMs / 1000} s (${others.map((report) => report.hostName).join(', ')} did not answer)`,
      {suggestion: `${SUGGESTION}; an agent older than this highway does not answer: run \`highway up\` on those hosts first`},
    )
  }
}
