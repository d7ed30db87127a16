/**
 * Command runners: the real one spawns programs (never through a shell), the scratch one only
 * records what would have run, for `--root` pointing at a scratch directory, where running
 * resolvectl or nmcli would change the real machine rather than the scratch one.
 */
import {runProcess} from '../core/process.js'
import type {CommandResult, CommandRunner} from './types.js'

export function systemRunner(): CommandRunner {
  return {run: (cmd, args, input): Promise<CommandResult> => runProcess(cmd, args, {input})}
}

/** Records every command and answers as if it succeeded with no output. */
export function scratchRunner(record: (line: string) => void): CommandRunner {
  return {
    async run(cmd, args, input) {
      record(formatCommand(cmd, args) + (input === undefined ? '' : ` <<< ${JSON.stringify(input)}`))
      return {code: 0, stdout: '', stderr: ''}
    },
  }
}

/** A command as a person would type it into a POSIX shell (a PowerShell script as typed into PowerShell). */
export function formatCommand(cmd: string, args: string[]): string {
  // A PowerShell script is shown as the script itself, ready to paste into an elevated PowerShell.
  if (/(^|[\\/])powershell\.exe$/i.test(cmd) && args.length > 0) return `PS> ${args.at(-1)}`
  return [cmd, ...args].map((word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`)).join(' ')
}
