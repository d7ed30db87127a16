// Which command lines bin/run.cjs may answer without oclif (src/cli/lean.ts): exactly those whose
// output the lean path prints the same (test/e2e/lean-cli.e2e.test.ts compares the two).
import {describe, expect, it} from 'vitest'
import {isLean} from '../../../src/cli/lean.js'

describe('isLean', () => {
  it('takes ls and status, with --json or without, on the local engine', () => {
    for (const argv of [['ls'], ['ls', '--json'], ['status'], ['status', '--json']]) {
      expect(isLean(argv, {}), argv.join(' ')).toBe(true)
      expect(isLean(argv, {DOCKER_HOST: 'unix:///run/docker.sock'}), argv.join(' ')).toBe(true)
    }
  })

  it('leaves everything else to oclif', () => {
    for (const argv of [['status', '--help'], ['status', '--json', '--json'], ['ls', '-h'], ['up'], ['run'], ['toString'], []]) {
      expect(isLean(argv, {}), argv.join(' ')).toBe(false)
    }
    expect(isLean(['status'], {DOCKER_HOST: 'tcp://127.0.0.1:2375'})).toBe(false)
    expect(isLean(['status'], {HIGHWAY_CONTENT_TYPE: 'x'})).toBe(false)
  })
})
