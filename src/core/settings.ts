import Conf from 'conf'
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

function store(env: NodeJS.ProcessEnv): Conf<Settings> {
  return new Conf<Settings>({
    projectName: 'highway',
    cwd: configDir(env),
    configName: 'settings',
    defaults: DEFAULT_SETTINGS,
    // A settings file from a newer or older highway must not crash the CLI: unknown keys are ignored.
    clearInvalidConfig: true,
  })
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  return {...DEFAULT_SETTINGS, ...store(env).store}
}

export function saveSettings(settings: Settings, env: NodeJS.ProcessEnv = process.env): void {
  store(env).set(settings)
}
