import {describe, expect, it} from 'vitest'
import {TimeoutError, UserError} from '../../../src/core/errors.js'
import {waitFor} from '../../../src/core/wait.js'

/** A clock that only moves when waitFor sleeps. */
function fakeClock(start = 1_000_000) {
  const clock = {
    sleeps: [] as number[],
    t: start,
    now: () => clock.t,
    sleep: async (ms: number) => {
      clock.sleeps.push(ms)
      clock.t += ms
    },
  }
  return clock
}

/** An attempt that yields the given results in turn: values are returned, Errors thrown. */
function script<T>(results: Array<T | undefined | Error>) {
  const calls: number[] = []
  let index = 0
  const attempt = async (): Promise<T | undefined> => {
    calls.push(index)
    const result = results[Math.min(index++, results.length - 1)]
    if (result instanceof Error) throw result
    return result
  }
  return {attempt, calls}
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection')
}

describe('waitFor', () => {
  it('returns the first value without sleeping', async () => {
    const clock = fakeClock()
    const {attempt, calls} = script(['ready'])
    await expect(waitFor(attempt, {message: 'm', now: clock.now, sleep: clock.sleep, timeout: 1000})).resolves.toBe('ready')
    expect(calls).toHaveLength(1)
    expect(clock.sleeps).toEqual([])
  })

  it('keeps trying while attempts return undefined, sleeping the default 100 ms between them', async () => {
    const clock = fakeClock()
    const {attempt, calls} = script<number>([undefined, undefined, 42])
    await expect(waitFor(attempt, {message: 'm', now: clock.now, sleep: clock.sleep, timeout: 1000})).resolves.toBe(42)
    expect(calls).toHaveLength(3)
    expect(clock.sleeps).toEqual([100, 100])
  })

  it('sleeps the given interval', async () => {
    const clock = fakeClock()
    const {attempt} = script<string>([undefined, undefined, undefined, 'ok'])
    await waitFor(attempt, {interval: 250, message: 'm', now: clock.now, sleep: clock.sleep, timeout: 5000})
    expect(clock.sleeps).toEqual([250, 250, 250])
  })

  it('counts a thrown attempt as "not yet" and retries', async () => {
    const clock = fakeClock()
    const {attempt, calls} = script<string>([new Error('ECONNREFUSED'), new Error('ECONNRESET'), 'up'])
    await expect(waitFor(attempt, {message: 'm', now: clock.now, sleep: clock.sleep, timeout: 1000})).resolves.toBe('up')
    expect(calls).toHaveLength(3)
  })

  it.each([null, 0, false, ''])('returns %j: only undefined means "not yet"', async (value) => {
    const clock = fakeClock()
    const {attempt} = script([value])
    await expect(waitFor(attempt, {message: 'm', now: clock.now, sleep: clock.sleep, timeout: 1000})).resolves.toBe(value)
  })

  it('times out with the message and the timeout, after trying until the deadline', async () => {
    const clock = fakeClock()
    const {attempt, calls} = script<string>([undefined])
    const error = await rejection(
      waitFor(attempt, {
        interval: 300,
        message: 'etcd did not report healthy at http://172.17.0.1:2379/health',
        now: clock.now,
        sleep: clock.sleep,
        timeout: 1000,
      }),
    )
    expect(error).toBeInstanceOf(TimeoutError)
    expect(error).toBeInstanceOf(UserError)
    expect((error as TimeoutError).name).toBe('TimeoutError')
    expect((error as TimeoutError).exitCode).toBe(1)
    expect((error as Error).message).toBe('etcd did not report healthy at http://172.17.0.1:2379/health after 1000 ms')
    // Attempts at +0, +300, +600, +900 and +1200 ms; the last is past the deadline.
    expect(calls).toHaveLength(5)
    expect(clock.sleeps).toEqual([300, 300, 300, 300])
  })

  it('carries the suggestion it was given to the user', async () => {
    const clock = fakeClock()
    const {attempt} = script<string>([undefined])
    const error = await rejection(waitFor(attempt, {message: 'x did not answer', now: clock.now, sleep: clock.sleep, suggestion: 'run y', timeout: 100}))
    expect((error as TimeoutError).suggestion).toBe('run y')
  })

  it('names the last error in the timeout message', async () => {
    const clock = fakeClock()
    const {attempt} = script<string>([new Error('first'), new Error('second'), new Error('connect ECONNREFUSED 172.17.0.1:2379')])
    const error = await rejection(waitFor(attempt, {message: 'etcd is not up', now: clock.now, sleep: clock.sleep, timeout: 500}))
    expect((error as Error).message).toBe('etcd is not up after 500 ms (last error: connect ECONNREFUSED 172.17.0.1:2379)')
  })

  it('keeps naming the last error even if later attempts just returned undefined', async () => {
    const clock = fakeClock()
    const {attempt} = script<string>([new Error('refused'), undefined])
    const error = await rejection(waitFor(attempt, {message: 'm', now: clock.now, sleep: clock.sleep, timeout: 300}))
    expect((error as Error).message).toBe('m after 300 ms (last error: refused)')
  })

  it('names no error when what was thrown is not an Error', async () => {
    const clock = fakeClock()
    const attempt = async (): Promise<string | undefined> => {
      throw 'a string'
    }
    const error = await rejection(waitFor(attempt, {message: 'm', now: clock.now, sleep: clock.sleep, timeout: 200}))
    expect((error as Error).message).toBe('m after 200 ms')
  })

  it('tries exactly once with a zero timeout', async () => {
    const clock = fakeClock()
    const {attempt, calls} = script<string>([undefined])
    const error = await rejection(waitFor(attempt, {message: 'm', now: clock.now, sleep: clock.sleep, timeout: 0}))
    expect((error as Error).message).toBe('m after 0 ms')
    expect(calls).toHaveLength(1)
    expect(clock.sleeps).toEqual([])
  })

  it('does not try at all when the signal is already aborted', async () => {
    const clock = fakeClock()
    const {attempt, calls} = script<string>(['never'])
    const controller = new AbortController()
    const reason = new Error('interrupted')
    controller.abort(reason)
    const error = await rejection(waitFor(attempt, {message: 'm', now: clock.now, signal: controller.signal, sleep: clock.sleep, timeout: 1000}))
    expect(error).toBe(reason)
    expect(calls).toHaveLength(0)
  })

  it('stops with the abort reason when aborted between attempts', async () => {
    const clock = fakeClock()
    const {attempt, calls} = script<string>([undefined, 'too late'])
    const controller = new AbortController()
    const reason = new Error('user pressed ^C')
    const sleep = async (ms: number) => {
      await clock.sleep(ms)
      controller.abort(reason)
    }
    const error = await rejection(waitFor(attempt, {message: 'm', now: clock.now, signal: controller.signal, sleep, timeout: 10_000}))
    expect(error).toBe(reason)
    expect(calls).toHaveLength(1)
  })

  it('rejects with an AbortError when aborted without a reason', async () => {
    const controller = new AbortController()
    controller.abort()
    const error = await rejection(waitFor(async () => 'x', {message: 'm', signal: controller.signal, timeout: 1000}))
    expect((error as Error).name).toBe('AbortError')
  })
})
