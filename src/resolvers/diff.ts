/**
 * A unified diff of two small texts (config files of a few dozen lines), as `diff -u` prints it:
 * what the dry run shows for each file it would change.
 */

type Op = {kind: ' ' | '-' | '+'; line: string}

function splitLines(text: string | null): {lines: string[]; finalNewline: boolean} {
  if (text === null || text === '') return {lines: [], finalNewline: true}
  const finalNewline = text.endsWith('\n')
  const lines = (finalNewline ? text.slice(0, -1) : text).split('\n')
  return {lines, finalNewline}
}

/** Longest common subsequence, line by line. */
function lineOps(a: string[], b: string[]): Op[] {
  const table: number[][] = Array.from({length: a.length + 1}, () => new Array<number>(b.length + 1).fill(0))
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      table[i][j] = a[i] === b[j] ? table[i + 1][j + 1] + 1 : Math.max(table[i + 1][j], table[i][j + 1])
    }
  }
  const ops: Op[] = []
  let i = 0
  let j = 0
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      ops.push({kind: ' ', line: a[i]})
      i++
      j++
    } else if (table[i + 1][j] >= table[i][j + 1]) {
      ops.push({kind: '-', line: a[i++]})
    } else {
      ops.push({kind: '+', line: b[j++]})
    }
  }
  while (i < a.length) ops.push({kind: '-', line: a[i++]})
  while (j < b.length) ops.push({kind: '+', line: b[j++]})
  return ops
}

const NO_NEWLINE = '\\ No newline at end of file'

export function unifiedDiff(path: string, before: string | null, after: string | null, context = 3): string {
  const a = splitLines(before)
  const b = splitLines(after)
  const ops = lineOps(a.lines, b.lines)
  // The last line differs only in its missing newline: show it as a change, as diff does.
  if (a.finalNewline !== b.finalNewline && a.lines.length > 0 && b.lines.length > 0) {
    const last = ops.at(-1)
    if (last?.kind === ' ') {
      ops.pop()
      ops.push({kind: '-', line: last.line}, {kind: '+', line: last.line})
    }
  }
  const header = [`--- ${before === null ? '/dev/null' : path}`, `+++ ${after === null ? '/dev/null' : path}`]
  const changed = ops.map((op, index) => (op.kind === ' ' ? -1 : index)).filter((index) => index >= 0)
  if (changed.length === 0) return ''

  // Group changes whose context overlaps into hunks.
  const hunks: [number, number][] = []
  for (const index of changed) {
    const start = Math.max(0, index - context)
    const end = Math.min(ops.length - 1, index + context)
    const last = hunks.at(-1)
    if (last && start <= last[1] + 1) last[1] = Math.max(last[1], end)
    else hunks.push([start, end])
  }

  const out = [...header]
  for (const [start, end] of hunks) {
    let aStart = 0
    let bStart = 0
    for (const op of ops.slice(0, start)) {
      if (op.kind !== '+') aStart++
      if (op.kind !== '-') bStart++
    }
    const slice = ops.slice(start, end + 1)
    const aCount = slice.filter((op) => op.kind !== '+').length
    const bCount = slice.filter((op) => op.kind !== '-').length
    const range = (from: number, count: number) => `${count === 0 ? from : from + 1}${count === 1 ? '' : `,${count}`}`
    out.push(`@@ -${range(aStart, aCount)} +${range(bStart, bCount)} @@`)
    let aSeen = aStart
    let bSeen = bStart
    for (const op of slice) {
      out.push(`${op.kind}${op.line}`)
      if (op.kind !== '+') aSeen++
      if (op.kind !== '-') bSeen++
      const aLast = op.kind !== '+' && aSeen === a.lines.length && !a.finalNewline
      const bLast = op.kind !== '-' && bSeen === b.lines.length && !b.finalNewline
      if ((op.kind === '-' && aLast) || (op.kind === '+' && bLast) || (op.kind === ' ' && aLast && bLast)) out.push(NO_NEWLINE)
    }
  }
  return out.join('\n')
}
