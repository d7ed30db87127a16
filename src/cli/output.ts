import chalk from 'chalk'
import {stripVTControlCharacters} from 'node:util'

/** Colour only when stdout is a terminal (chalk checks, and honours NO_COLOR/FORCE_COLOR). */
export const colour = chalk

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
