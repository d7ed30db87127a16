/**
 * Command runners: the real one spawns programs (never through a shell), the scratch one only
 * records what would have run, for `--root` pointing at a scratch directory, where running
 * resolvectl or nmcli would change the real machine rather than the scratch one.
 */
import {spawn} from 'node:child_process'
import type {CommandResult, CommandRunner} from './types.js'

export function systemRunner(options: {env?: NodeJS.ProcessEnv; timeoutMs?: number} = {}): CommandRunner {
  return {
    run(cmd, args, input) {
      return new Promise((resolve) => {
        let stdout = ''
        let stderr = ''
        let settled = false
        const finish = (result: CommandResult) => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          resolve(result)
        }
        const child = spawn(cmd, args, {env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe']})
        const timer = setTimeout(() => {
          child.kill('SIGKILL')
          finish({code: 124, stdout, stderr: `${stderr}${cmd} did not finish within ${options.timeoutMs ?? 30_000} ms`})
        }, options.timeoutMs ?? 30_000)
        child.stdout.on('data', (chunk) => (stdout += chunk))
        child.stderr.on('data', (chunk) => (stderr += chunk))
        // A program that is not installed is an answer, not a crash: exit code 127 as a shell says it.
        child.on('error', (error: NodeJS.ErrnoException) => finish({code: error.code === 'ENOENT' ? 127 : 126, stdout, stderr: `${cmd}: ${error.message}`}))
        child.on('close', (code, signal) => finish({code: code ?? (signal ? 128 : 1), stdout, stderr}))
        child.stdin.on('error', () => {})
        child.stdin.end(input ?? '')
      })
    },
  }
}

/** Records every command and answers as if it succeeded with no output. */
export function scratchRunner(record: (line: string) => void = () => {}): CommandRunner & {calls: string[]} {
  const calls: string[] = []
  return {
    calls,
    async run(cmd, args, input) {
      const line = formatCommand(cmd, args) + (input === undefined ? '' : ` <<< ${JSON.stringify(input)}`)
      calls.push(line)
      record(line)
      return {code: 0, stdout: '', stderr: ''}
    },
  }
}

/** A command as a person would type it into a POSIX shell (a PowerShell script as typed into PowerShell). */
export function formatCommand(cmd: string, args: string[]): string {
  // A PowerShell script is shown as the script itself, ready to paste into an elevated PowerShell.
  if (cmd === 'powershell.exe' && args.length > 0) return `PS> ${args.at(-1)}`
  return [cmd, ...args].map((word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`)).join(' ')
}
