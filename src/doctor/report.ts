/**
 * The shape of `highway doctor`'s answer and the logic that orders and reports it, kept pure so it
 * is tested without Docker: checks run hop by hop, in the order a request travels; a check whose
 * prerequisite failed is skipped (saying which), so the first failure is the hop to fix first.
 */

/** ok: works; warn: works but something is off or not set up; fail: broken; skip: not checked because a hop before it failed. */
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip'

/** The hops, in the order doctor checks them (and a request travels). */
export const HOPS = ['engine', 'components', 'bridge', 'ports', 'resolver', 'host', 'container', 'agent', 'registry'] as const
export type Hop = (typeof HOPS)[number]

export interface CheckResult {
  hop: Hop
  /** Unique within a run, e.g. "components.dns": what later checks name as a prerequisite. */
  id: string
  status: CheckStatus
  /** One line: what was seen. */
  detail: string
  /** The exact command that fixes it, when something is wrong and a command can. */
  fix: string | null
}

export interface CheckStep {
  hop: Hop
  /** Ids of checks (or whole hops) that must not have failed for this step to mean anything. */
  needs: string[]
  /** Its checks; a throw is reported as this step's failure, never as a crash of doctor. */
  run(): Promise<Array<Omit<CheckResult, 'hop'>>>
}

export interface DoctorReport {
  ok: boolean
  checks: CheckResult[]
  /** The first failed check: what to fix first. */
  firstFailure: CheckResult | null
}

/**
 * True when `need` (a check id, or a hop name standing for all its checks) failed, or was not
 * checked: a skipped step leaves one line for its whole hop, so it blocks every check id of that hop.
 */
function blocked(need: string, done: CheckResult[]): boolean {
  const hop = need.split('.')[0]
  return done.some((check) => (check.status === 'fail' && (check.id === need || check.hop === need)) || (check.status === 'skip' && check.hop === hop))
}

/** Runs the steps one after another, in HOPS order (a step list out of order is a bug). */
export async function runSteps(steps: CheckStep[]): Promise<DoctorReport> {
  const order = steps.map((step) => HOPS.indexOf(step.hop))
  if (order.some((position, index) => index > 0 && position < order[index - 1])) throw new Error('doctor steps are not in hop order')
  const checks: CheckResult[] = []
  for (const step of steps) {
    const missing = step.needs.find((need) => blocked(need, checks))
    if (missing !== undefined) {
      checks.push({detail: `not checked: ${missing} failed`, fix: null, hop: step.hop, id: step.hop, status: 'skip'})
      continue
    }
    try {
      for (const result of await step.run()) checks.push({...result, hop: step.hop})
    } catch (error) {
      const fix = (error as {suggestion?: string}).suggestion ?? null
      checks.push({detail: (error as Error).message, fix, hop: step.hop, id: step.hop, status: 'fail'})
    }
  }
  const firstFailure = checks.find((check) => check.status === 'fail') ?? null
  return {checks, firstFailure, ok: firstFailure === null}
}

export interface Paint {
  ok(text: string): string
  warn(text: string): string
  fail(text: string): string
  skip(text: string): string
}

const plain: Paint = {fail: (text) => text, ok: (text) => text, skip: (text) => text, warn: (text) => text}
const LABEL: Record<CheckStatus, string> = {fail: 'FAIL', ok: 'ok', skip: 'skip', warn: 'warn'}

/** One line per check ("ok   engine     ..."), then, when something failed, the first failure and its fix. */
export function renderReport(report: DoctorReport, paint: Paint = plain): string[] {
  const width = Math.max(...HOPS.map((hop) => hop.length))
  const lines = report.checks.map((check) => {
    const fix = check.fix && check.status !== 'ok' ? ` (fix: ${check.fix})` : ''
    return paint[check.status](`${LABEL[check.status].padEnd(4)} ${check.hop.padEnd(width)} ${check.detail}${fix}`)
  })
  const first = report.firstFailure
  if (first) {
    lines.push('', paint.fail(`first failure: ${first.hop}: ${first.detail}`))
    lines.push(first.fix ? `fix: ${first.fix}` : 'no single command fixes this: see the line above')
  } else {
    const warnings = report.checks.filter((check) => check.status === 'warn').length
    lines.push('', paint.ok(`every hop answers${warnings > 0 ? ` (${warnings} warning${warnings > 1 ? 's' : ''})` : ''}`))
  }
  return lines
}
