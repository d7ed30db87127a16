import {spawn} from 'node:child_process'

/**
 * The one place highway runs a program to its end and reads what it printed: never through a
 * shell, always with a deadline, and a missing program is an answer (127, as a shell says it)
 * rather than a crash, so callers decide what it means.
 */
export interface ProcessResult {
  code: number
  stdout: string
  stderr: string
}

export interface ProcessOptions {
  env?: NodeJS.ProcessEnv
  /** Written to stdin, which is then closed; without it stdin is closed at once. */
  input?: string
  /** Killed after this many ms, answering code 124 (as timeout(1) does). */
  timeoutMs?: number
}

export const DEFAULT_PROCESS_TIMEOUT_MS = 30_000

export function runProcess(cmd: string, args: string[], options: ProcessOptions = {}): Promise<ProcessResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_PROCESS_TIMEOUT_MS
  return new Promise((resolve) => {
    let stdout = ''
    let stderr = ''
    let settled = false
    const finish = (result: ProcessResult) => {
      if (settled) return
      settled = true
      resolve(result)
    }
    const started = performance.now()
    const child = spawn(cmd, args, {env: options.env ?? process.env, killSignal: 'SIGKILL', stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs})
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    child.on('error', (error: NodeJS.ErrnoException) => finish({code: error.code === 'ENOENT' ? 127 : 126, stdout, stderr: `${cmd}: ${error.message}`}))
    child.on('close', (code, signal) => {
      if (signal === 'SIGKILL' && performance.now() - started >= timeoutMs) {
        finish({code: 124, stdout, stderr: `${stderr}${cmd} did not finish within ${timeoutMs} ms`})
      } else {
        finish({code: code ?? (signal ? 128 : 1), stdout, stderr})
      }
    })
    // A program that exits without reading its stdin must not turn into an EPIPE crash.
    child.stdin.on('error', () => {})
    child.stdin.end(options.input ?? '')
  })
}
