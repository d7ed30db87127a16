import {stripVTControlCharacters} from 'node:util'

/**
 * chalk's level: 0 when stdout is not a terminal, FORCE_COLOR honoured. chalk 5 ignores NO_COLOR,
 * so it is applied here: set and not empty means no colour (no-color.org), whatever the terminal.
 */
export function colourLevel(env: NodeJS.ProcessEnv, detected: number): 0 | 1 | 2 | 3 {
  return env.NO_COLOR ? 0 : (detected as 0 | 1 | 2 | 3)
}

/** The colours highway prints with. */
export interface Colour {
  dim(text: string): string
  green(text: string): string
  red(text: string): string
  yellow(text: string): string
}

const plain: Colour = {dim: (text) => text, green: (text) => text, red: (text) => text, yellow: (text) => text}

async function chalkColour(): Promise<Colour> {
  const {default: chalk, Chalk} = await import('chalk')
  return new Chalk({level: colourLevel(process.env, chalk.level)})
}

/**
 * Colour only on a terminal, and never under NO_COLOR. chalk (its terminal detection) is loaded
 * only when colour could show: `ls` and `status` in a pipe or under NO_COLOR never load it.
 */
export const colour: Colour = !process.env.NO_COLOR && (process.stdout.isTTY || process.env.FORCE_COLOR !== undefined) ? await chalkColour() : plain

/** A plain text table: columns padded to their widest cell, headers dimmed. */
const visible = (text: string) => stripVTControlCharacters(text).length

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, index) => Math.max(header.length, ...rows.map((row) => visible(row[index] ?? ''))))
  const line = (cells: string[]) =>
    cells
      .map((cell = '', index) => cell + ' '.repeat(Math.max(0, widths[index] - visible(cell))))
      .join('  ')
      .trimEnd()
  return [colour.dim(line(headers)), ...rows.map((row) => line(row))].join('\n')
}
