import type Conf from 'conf'
import {readFileSync} from 'node:fs'
import {homedir} from 'node:os'
import {join} from 'node:path'
import {DEFAULT_SETTINGS, type Settings} from './types.js'

/**
 * Settings live in one file under highway's config directory (HIGHWAY_CONFIG_DIR, else
 * $XDG_CONFIG_HOME/highway, else ~/.config/highway), so the CLI and tests agree on one place.
 * The environment is passed in rather than read globally so tests can point it anywhere.
 */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HIGHWAY_CONFIG_DIR) return env.HIGHWAY_CONFIG_DIR
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config')
  return join(base, 'highway')
}

const FILE = 'settings'

async function store(env: NodeJS.ProcessEnv): Promise<Conf<Settings>> {
  const {default: Conf} = await import('conf')
  return new Conf<Settings>({
    projectName: 'highway',
    cwd: configDir(env),
    configName: FILE,
    defaults: DEFAULT_SETTINGS,
    // A settings file from a newer or older highway must not crash the CLI: unknown keys are ignored.
    clearInvalidConfig: true,
  })
}

/**
 * Reading is a plain JSON parse of conf's file: `highway run` must start fast, and conf (with its
 * schema validator) costs more start-up time than the rest of `run` together. Writing goes through conf.
 */
export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  let saved: Partial<Settings> = {}
  try {
    saved = JSON.parse(readFileSync(join(configDir(env), `${FILE}.json`), 'utf8')) as Partial<Settings>
  } catch {
    // Missing or unreadable: highway has not been set up here, which callers report in their own words.
  }
  return {...DEFAULT_SETTINGS, ...saved}
}

export async function saveSettings(settings: Settings, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  ;(await store(env)).set(settings)
}
