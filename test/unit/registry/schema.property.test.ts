import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {agentKey, agentReportProblem, checkRecord, parseAgentReport, serviceKey} from '../../../src/registry/schema.js'
import {anyJson, hostId, hostileRecord, validRecord} from '../support/arbitraries.js'
import {BRIDGE_IP} from '../support/highway-fixtures.js'

/** A reason is one short line of printable ASCII, whatever the value held: it goes to logs and `ls`. */
function expectPrintableReason(reason: string): void {
  expect(reason).toMatch(/^[\x20-\x7e]{1,200}$/)
}

const anyKey = fc.oneof(
  fc.string({unit: 'binary'}),
  fc
    .tuple(fc.string({unit: 'binary'}), fc.string({unit: 'binary'}), fc.string({unit: 'binary'}))
    .map(([a, b, c]) => `/highway/v2/hosts/${b}/services/${a}/${c}`),
)

describe('checkRecord, property-based', () => {
  it('never throws on any key and any text, and gives a printable reason when it refuses', () => {
    fc.assert(
      fc.property(
        anyKey,
        fc.oneof(
          fc.string({unit: 'binary'}),
          anyJson.map((value) => JSON.stringify(value)),
        ),
        (key, value) => {
          const check = checkRecord(key, value, {bridgeIp: BRIDGE_IP})
          if (!check.ok) expectPrintableReason(check.reason)
        },
      ),
      {numRuns: 1000},
    )
  })

  it('never throws on a record with any JSON value in any field, under its own key or another', () => {
    fc.assert(
      fc.property(hostileRecord, validRecord, fc.boolean(), (value, other, ownKey) => {
        const source = ownKey && typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as typeof other) : other
        const key =
          typeof source.name === 'string' && typeof source.hostId === 'string' && typeof source.containerId === 'string'
            ? serviceKey(source)
            : serviceKey(other)
        let text: string
        try {
          text = JSON.stringify(value) ?? 'undefined'
        } catch {
          text = String(value)
        }
        const check = checkRecord(key, text, {bridgeIp: BRIDGE_IP})
        if (!check.ok) expectPrintableReason(check.reason)
      }),
      {numRuns: 1000},
    )
  })

  it('accepts every valid record under its own key, unchanged', () => {
    fc.assert(
      fc.property(validRecord, (record) => {
        expect(checkRecord(serviceKey(record), JSON.stringify(record), {bridgeIp: BRIDGE_IP})).toEqual({ok: true, record})
      }),
      {numRuns: 500},
    )
  })
})

const validReport = fc.record({
  dockerConnected: fc.boolean(),
  etcdConnected: fc.boolean(),
  hostId,
  hostName: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$/),
  lastReconcileAt: fc.option(
    fc.date({noInvalidDate: true, min: new Date(0), max: new Date('2100-01-01')}).map((date) => date.toISOString()),
    {nil: null},
  ),
  proxyConfigHash: fc.option(fc.stringMatching(/^[0-9a-f]{16}$/), {nil: null}),
  routes: fc.nat(),
  schema: fc.constant(1 as const),
  startedAt: fc.date({noInvalidDate: true, min: new Date(0), max: new Date('2100-01-01')}).map((date) => date.toISOString()),
})

describe('parseAgentReport, property-based', () => {
  it('never throws on any text, or a report with any JSON value in any field', () => {
    const hostile = fc
      .tuple(validReport, fc.constantFrom(...Object.keys(validReport)), fc.option(anyJson, {nil: undefined}))
      .map(([report, field, value]) => JSON.stringify({...report, [field]: value}))
    fc.assert(
      fc.property(fc.oneof(fc.string({unit: 'binary'}), hostile), fc.option(fc.string({unit: 'binary'}), {nil: undefined}), (value, key) => {
        const problem = agentReportProblem(value, key)
        if (problem) expectPrintableReason(problem)
        expect(parseAgentReport(value, key) === null).toBe(problem !== null)
      }),
      {numRuns: 1000},
    )
  })

  it('accepts every valid report under its own key, unchanged', () => {
    fc.assert(
      fc.property(validReport, (report) => {
        expect(parseAgentReport(JSON.stringify(report), agentKey(report.hostId))).toEqual(report)
      }),
      {numRuns: 300},
    )
  })
})
