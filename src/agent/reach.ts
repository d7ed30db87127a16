import {connect} from 'node:net'
import {setTimeout as delay} from 'node:timers/promises'
import {NONCE, reachKey, shown, type Probe, type ReachAnswer} from '../registry/schema.js'

/** A connect that is neither answered nor refused within this is a dropped one (a firewall, no route). */
export const DIAL_TIMEOUT_MS = 3000
/**
 * The least time between two dials for one probing host. A join needs one; a host that puts probe after
 * probe to learn which ports answer where (the agents' networks, from their side) learns one port per
 * this per agent, not thousands a second.
 */
export const DIAL_EVERY_MS = 2000

/**
 * Dials a probe's address and port, and reads the line its listener sends; what went wrong otherwise,
 * in the socket's words. At most a line's worth is read: nothing else of that host's is looked at.
 */
export function dial(address: string, port: number, timeoutMs = DIAL_TIMEOUT_MS): Promise<{line: string} | {error: string}> {
  return new Promise((resolve) => {
    let received = ''
    const socket = connect({host: address, port})
    const done = (outcome: {line: string} | {error: string}) => {
      socket.destroy()
      clearTimeout(timer)
      resolve(outcome)
    }
    const timer = setTimeout(() => done({error: `no answer from ${address}:${port} within ${timeoutMs} ms`}), timeoutMs)
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => {
      received += chunk
      if (received.includes('\n') || received.length > 64) done({line: received.split('\n')[0]})
    })
    socket.on('end', () => done({line: received}))
    socket.on('error', (error: NodeJS.ErrnoException) => done({error: `${error.code ?? error.message} on ${address}:${port}`}))
  })
}

export interface ReachOptions {
  hostId: string
  /** The agent's leased keys: an answer goes when the agent dies, like its records. */
  held: {put(key: string, value: string): Promise<string>; delete(key: string): Promise<string>}
  log: (message: string) => void
  dial?: typeof dial
  dialEveryMs?: number
}

/**
 * Answers other hosts' probes (infra/reach.ts): a joining host asks to be dialled on its advertise
 * address before it registers anything there. The answer goes under this host's own prefix (its etcd
 * role may write nothing else) and carries the nonce read from the listener, which proves this host
 * reached that run's listener and not some other machine holding the address. It is removed when the
 * probe goes.
 */
export class ReachAnswers {
  /** Probing host -> the probe id answered (or being answered). */
  private readonly answered = new Map<string, string>()
  /** Probing host -> when this agent last dialled for it (kept for the agent's life: it is one number per host that ever probed). */
  private readonly dialled = new Map<string, number>()

  constructor(private readonly options: ReachOptions) {}

  /** The probes a fresh listing found: the missing ones' answers go, new ones are answered. */
  async sync(probes: Probe[]): Promise<void> {
    const present = new Set(probes.map((probe) => probe.hostId))
    const work = [...this.answered.keys()].filter((hostId) => !present.has(hostId)).map((hostId) => this.onProbe(hostId, null))
    for (const probe of probes) work.push(this.onProbe(probe.hostId, probe))
    await Promise.all(work)
  }

  async onProbe(hostId: string, probe: Probe | null): Promise<void> {
    const own = this.options.hostId
    if (hostId === own) return
    if (!probe) {
      if (!this.answered.delete(hostId)) return
      await this.options.held.delete(reachKey(own, hostId))
      return
    }
    if (this.answered.get(hostId) === probe.id) return
    this.answered.set(hostId, probe.id)
    const untilDial = (): number => (this.dialled.get(hostId) ?? -Infinity) + (this.options.dialEveryMs ?? DIAL_EVERY_MS) - Date.now()
    // A loop, not one timer: Node's timers may fire a millisecond early by Date.now (CI saw 299 of 300 ms).
    for (let wait = untilDial(); wait > 0; wait = untilDial()) {
      await delay(wait)
      // Replaced or gone meanwhile: the newer probe, or none, is what counts.
      if (this.answered.get(hostId) !== probe.id) return
    }
    this.dialled.set(hostId, Date.now())
    const outcome = await (this.options.dial ?? dial)(probe.address, probe.port)
    let answer: ReachAnswer
    if ('error' in outcome) answer = {error: outcome.error, probe: probe.id}
    else if (NONCE.test(outcome.line)) answer = {nonce: outcome.line, probe: probe.id}
    // Not highway's listener: what that machine said is not passed on.
    else answer = {error: `${probe.address}:${probe.port} answered, but not with host ${hostId}'s nonce (another machine holds that address?)`, probe: probe.id}
    // The probe may have gone (or been replaced) while dialling: an answer now would outlive it.
    if (this.answered.get(hostId) !== probe.id) return
    this.options.log(`host ${hostId} asked to be dialled at ${probe.address}:${probe.port}: ${answer.nonce ? 'reached' : shown(answer.error, 200)}`)
    await this.options.held.put(reachKey(own, hostId), JSON.stringify(answer))
  }
}
