import {describe, expect, it} from 'vitest'
import {runProcess} from '../../../src/core/process.js'

// Real programs (sh, cat), no fakes: this is the one place highway runs a program to its end.
describe('runProcess', () => {
  it('returns the exit code and both outputs, and feeds stdin', async () => {
    expect(await runProcess('sh', ['-c', 'cat; echo err >&2; exit 3'], {input: 'hello'})).toEqual({code: 3, stderr: 'err\n', stdout: 'hello'})
  })

  it('answers 127 for a program that is not installed, as a shell would', async () => {
    const result = await runProcess('highway-no-such-program', [])
    expect(result.code).toBe(127)
    expect(result.stderr).toContain('highway-no-such-program')
  })

  it('kills a program past its deadline and answers 124 with what it printed so far', async () => {
    const result = await runProcess('sh', ['-c', 'echo started; exec sleep 30'], {timeoutMs: 300})
    expect(result.code).toBe(124)
    expect(result.stdout).toBe('started\n')
    expect(result.stderr).toContain('did not finish within 300 ms')
  })

  it('reports a program killed by a signal of its own as 128', async () => {
    expect((await runProcess('sh', ['-c', 'kill -TERM $$'])).code).toBe(128)
  })

  it('survives a program that never reads its stdin', async () => {
    expect((await runProcess('true', [], {input: 'x'.repeat(1 << 20)})).code).toBe(0)
  })
})
