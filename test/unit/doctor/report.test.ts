import {describe, expect, it} from 'vitest'
import {UserError} from '../../../src/core/errors.js'
import {renderReport, runSteps, type CheckStep, type Hop} from '../../../src/doctor/report.js'

const step = (hop: Hop, needs: string[], results: Array<{id: string; status: 'ok' | 'warn' | 'fail'; fix?: string}>, ran: string[] = []): CheckStep => ({
  hop,
  needs,
  async run() {
    ran.push(hop)
    return results.map(({fix, id, status}) => ({detail: `${id} is ${status}`, fix: fix ?? null, id, status}))
  },
})

describe('runSteps', () => {
  it('runs every step in hop order and is ok when nothing failed (warnings do not fail)', async () => {
    const ran: string[] = []
    const report = await runSteps([
      step('engine', [], [{id: 'engine', status: 'ok'}], ran),
      step('resolver', ['engine'], [{id: 'resolver.dns-setup', status: 'warn', fix: 'sudo highway dns-setup'}], ran),
      step('registry', [], [{id: 'registry.x', status: 'ok'}], ran),
    ])
    expect(ran).toEqual(['engine', 'resolver', 'registry'])
    expect(report.ok).toBe(true)
    expect(report.firstFailure).toBeNull()
    expect(report.checks.map((check) => [check.hop, check.status])).toEqual([
      ['engine', 'ok'],
      ['resolver', 'warn'],
      ['registry', 'ok'],
    ])
  })

  it('skips a step whose prerequisite (a check id or a whole hop) failed, without running it, and names the prerequisite', async () => {
    const ran: string[] = []
    const report = await runSteps([
      step(
        'components',
        [],
        [
          {id: 'components.dns', status: 'fail', fix: 'highway up'},
          {id: 'components.etcd', status: 'ok'},
        ],
        ran,
      ),
      step('host', ['components.dns'], [{id: 'host', status: 'ok'}], ran),
      step('container', ['components'], [{id: 'container', status: 'ok'}], ran),
      step('agent', ['components.etcd'], [{id: 'agent.lag', status: 'ok'}], ran),
    ])
    expect(ran).toEqual(['components', 'agent'])
    expect(report.checks.find((check) => check.hop === 'host')).toMatchObject({status: 'skip', detail: 'not checked: components.dns failed'})
    expect(report.checks.find((check) => check.hop === 'container')).toMatchObject({status: 'skip', detail: 'not checked: components failed'})
    expect(report.ok).toBe(false)
  })

  it('a skipped step blocks what needs it in turn', async () => {
    const report = await runSteps([
      step('engine', [], [{id: 'engine', status: 'fail'}]),
      step('components', ['engine'], [{id: 'components.dns', status: 'ok'}]),
      step('host', ['components.dns'], [{id: 'host', status: 'ok'}]),
    ])
    expect(report.checks.map((check) => check.status)).toEqual(['fail', 'skip', 'skip'])
    expect(report.checks[2].detail).toBe('not checked: components.dns failed')
  })

  it('names the first failure in hop order as what to fix first, with its command', async () => {
    const report = await runSteps([
      step('engine', [], [{id: 'engine', status: 'ok'}]),
      step('ports', [], [{id: 'ports.53/udp', status: 'fail', fix: 'kill 42 && highway up'}]),
      step('registry', [], [{id: 'registry.x', status: 'fail', fix: 'highway up'}]),
    ])
    expect(report.firstFailure).toMatchObject({hop: 'ports', id: 'ports.53/udp', fix: 'kill 42 && highway up'})
  })

  it('a step that throws is that hop failing, with a UserError’s suggestion as its fix, and the later steps still run', async () => {
    const ran: string[] = []
    const report = await runSteps([
      {
        hop: 'engine',
        needs: [],
        run: () => Promise.reject(new UserError('cannot reach the Docker engine', {suggestion: 'sudo systemctl start docker'})),
      },
      step('resolver', [], [{id: 'resolver.mechanism', status: 'ok'}], ran),
    ])
    expect(report.checks[0]).toMatchObject({
      hop: 'engine',
      id: 'engine',
      status: 'fail',
      detail: 'cannot reach the Docker engine',
      fix: 'sudo systemctl start docker',
    })
    expect(ran).toEqual(['resolver'])
  })

  it('refuses steps out of hop order: the order is what makes the first failure the one to fix first', async () => {
    await expect(runSteps([step('registry', [], []), step('engine', [], [])])).rejects.toThrow(/hop order/)
  })
})

describe('renderReport', () => {
  it('prints one line per check with its status, hop and fix (a fix only where something is wrong), then the first failure and its fix', async () => {
    const report = await runSteps([
      step('engine', [], [{id: 'engine', status: 'ok', fix: 'never shown'}]),
      step('components', [], [{id: 'components.proxy', status: 'fail', fix: 'highway up'}]),
      step('host', ['components.proxy'], []),
    ])
    expect(renderReport(report)).toEqual([
      'ok   engine     engine is ok',
      'FAIL components components.proxy is fail (fix: highway up)',
      'skip host       not checked: components.proxy failed',
      '',
      'first failure: components: components.proxy is fail',
      'fix: highway up',
    ])
  })

  it('says when no single command fixes the first failure, and counts warnings when all is well', async () => {
    const failed = await runSteps([step('container', [], [{id: 'container', status: 'fail'}])])
    expect(renderReport(failed).at(-1)).toBe('no single command fixes this: see the line above')
    const warned = await runSteps([
      step(
        'resolver',
        [],
        [
          {id: 'a', status: 'warn'},
          {id: 'b', status: 'warn'},
        ],
      ),
    ])
    expect(renderReport(warned).at(-1)).toBe('every hop answers (2 warnings)')
  })

  it('paints each line by its status (the command passes colours only on a TTY)', async () => {
    const report = await runSteps([step('engine', [], [{id: 'engine', status: 'ok'}]), step('bridge', [], [{id: 'bridge', status: 'warn'}])])
    const tag = (name: string) => (text: string) => `<${name}>${text}`
    const lines = renderReport(report, {fail: tag('red'), ok: tag('green'), skip: tag('dim'), warn: tag('yellow')})
    expect(lines[0].startsWith('<green>ok ')).toBe(true)
    expect(lines[1].startsWith('<yellow>warn')).toBe(true)
  })
})
