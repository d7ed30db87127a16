// What highway prints, byte for byte: every line ends with a newline (the shell's prompt never lands
// on highway's last line), colour only on a terminal, and none under NO_COLOR even there. A real
// terminal comes from util-linux's script(1); nothing here changes the engine (status and ls only read).
import {describe, expect, it} from 'vitest'
import {BIN, highway, makeEnv, run} from './harness.js'

const ESC = '\x1b'
/** A fresh config directory: highway is not set up for it, whatever the engine runs. */
const env = makeEnv({NO_COLOR: undefined})

/** `highway ARGS` on a pseudo-terminal; what the terminal showed (script turns each \n into \r\n). */
/** A user's terminal: no CI variable either (chalk takes a CI run for a log, not a terminal, and colours nothing). */
async function onTerminal(args: string, extra: NodeJS.ProcessEnv = {}): Promise<string> {
  const {CI: _ci, ...terminal} = env
  const result = await run('script', ['-qec', `${process.execPath} ${BIN} ${args}`, '/dev/null'], {env: {...terminal, ...extra}})
  return result.stdout
}

const endsLines = (text: string) => text === '' || text.endsWith('\n')

describe('output', () => {
  it('ends every command’s output, and every error, with a newline', async () => {
    for (const args of [['--version'], ['--help'], ['ls'], ['ls', '--json'], ['status'], ['status', '--json'], ['run'], ['join-file'], ['run', '--bogus']]) {
      const result = await highway(args, {...env, NO_COLOR: '1'})
      expect(result.stdout + result.stderr, args.join(' ')).not.toBe('')
      expect(endsLines(result.stdout), `stdout of ${args.join(' ')}: ${JSON.stringify(result.stdout.slice(-40))}`).toBe(true)
      expect(endsLines(result.stderr), `stderr of ${args.join(' ')}: ${JSON.stringify(result.stderr.slice(-40))}`).toBe(true)
    }
    const ls = await onTerminal('ls')
    expect(ls).toContain('highway is not set up on this host')
    expect(ls.endsWith('\r\n')).toBe(true)
  })

  it('colours on a terminal, and is plain under NO_COLOR there and whenever stdout is not a terminal', async () => {
    // The control: without NO_COLOR a terminal gets colour, so the two checks below can fail.
    const coloured = await onTerminal('status')
    expect(coloured).toContain('COMPONENT')
    expect(coloured).toContain(`${ESC}[`)
    const plain = await onTerminal('status', {NO_COLOR: '1'})
    expect(plain).toContain('COMPONENT')
    expect(plain).not.toContain(ESC)
    const piped = await highway(['status'], env)
    expect(piped.stdout).toContain('COMPONENT')
    expect(piped.stdout + piped.stderr).not.toContain(ESC)
  })
})
