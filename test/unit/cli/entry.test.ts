// How bin/run.cjs ends a command (lean: run, ls, status; and oclif's): at once, yet never before what
// it printed has left. Real node processes and real pipes: what is at stake is what reaches the reader.
import {spawn} from 'node:child_process'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {describe, expect, it} from 'vitest'

const ENTRY = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'run.cjs')

/** Runs node with `args`; reads its stdout only after `readAfterMs`. */
function nodeWith(args: string[], readAfterMs = 0): Promise<{code: number | null; stdout: string}> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'inherit'],
      // A process that does not end is killed (code null) rather than left behind.
      timeout: 20_000,
      killSignal: 'SIGKILL',
    })
    const chunks: Buffer[] = []
    child.stdout.pause()
    setTimeout(() => {
      child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk))
      child.stdout.resume()
    }, readAfterMs)
    child.on('error', reject)
    child.on('close', (code) => resolve({code, stdout: Buffer.concat(chunks).toString()}))
  })
}

/** Runs `script` in a node that has required bin/run.cjs as `entry`. */
function node(script: string, readAfterMs = 0): Promise<{code: number | null; stdout: string}> {
  return nodeWith(['-e', `const entry = require(${JSON.stringify(ENTRY)}); ${script}`], readAfterMs)
}

describe('bin/run.cjs exitPromptly', () => {
  it('is all that requiring the entry does: no command runs', async () => {
    expect(await node("process.stdout.write(typeof entry.exitPromptly + '\\n')")).toEqual({code: 0, stdout: 'function\n'})
  })

  it('ends the process with its code while work that never ends is still pending', async () => {
    // An interval keeps node's own exit waiting for ever: only an exit of its own ends this process.
    expect(await node("setInterval(() => {}, 1000); process.stdout.write('done\\n'); entry.exitPromptly(3)")).toEqual({code: 3, stdout: 'done\n'})
  })

  it('ends the process after an oclif command that succeeded, while work that never ends is still pending', async () => {
    // As a socket a client gave up on can: oclif exits by itself only on an error.
    const result = await nodeWith(['--import', 'data:text/javascript,setInterval(() => {}, 1000)', ENTRY, '--help'])
    expect(result.code).toBe(0)
    expect(result.stdout).toContain('docker run with service discovery')
    // Past the child's own kill: a process that does not end fails here, and is not left behind.
  }, 30_000)

  it('loses nothing a pipe still queues: 4 MiB written to a reader that waits first all arrive', async () => {
    // A pipe holds 64 KiB; the rest waits in node's queue until the reader reads, after the call.
    const result = await node("process.stdout.write('x'.repeat(4 << 20) + '\\n'); entry.exitPromptly(5)", 300)
    expect(result.code).toBe(5)
    expect(result.stdout.length).toBe((4 << 20) + 1)
  })
})
