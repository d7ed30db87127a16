// Shell completion through @oclif/plugin-autocomplete, in real shells: bash completes commands and
// flags from the function the plugin writes; zsh loads its setup and registers highway's completer.
// No Docker here: completion reads only the manifest.
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {beforeAll, describe, expect, it} from 'vitest'
import {highway, makeEnv, run} from './harness.js'

/** The plugin writes its scripts under the cache directory: a fresh one, so the test sees this build's. */
const env = makeEnv({XDG_CACHE_HOME: mkdtempSync(join(tmpdir(), 'highway-completion-'))})

async function setup(shell: 'bash' | 'zsh'): Promise<string> {
  const result = await highway(['autocomplete', 'script', shell], env)
  expect(result.code, result.stderr).toBe(0)
  return result.stdout.trim()
}

beforeAll(async () => {
  // Builds the completion cache, as the instructions it prints tell a user to.
  const built = await highway(['autocomplete', 'bash'], env)
  expect(built.code, built.stderr).toBe(0)
})

describe('shell completion', () => {
  it('completes commands and flags in bash', async () => {
    const complete = (words: string[]) =>
      `COMP_WORDS=(${words.map((word) => `'${word}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _highway_autocomplete; printf '%s\\n' "\${COMPREPLY[@]}"`
    const script = [await setup('bash'), complete(['highway', 'st']), 'echo --', complete(['highway', 'ls', '--'])].join('\n')
    const result = await run('bash', ['-c', script], {env})
    expect(result.code, result.stderr).toBe(0)
    const [commands, flags] = result.stdout.split('--\n')
    expect(commands.split('\n').filter(Boolean)).toEqual(['status'])
    expect(flags).toContain('--json')
  })

  it('registers its completer in zsh', async () => {
    const script = ['autoload -U compinit', 'compinit -u -D', await setup('zsh'), 'print -r -- ${_comps[highway]}'].join('\n')
    const result = await run('zsh', ['-f', '-c', script], {env})
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout.trim()).toBe('_highway')
  })
})
