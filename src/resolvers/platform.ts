import {UserError} from '../core/errors.js'
import type {Platform} from './types.js'

/** This machine's platform, as dns-setup knows them. */
export function currentPlatform(platform: string = process.platform): Platform {
  if (platform === 'linux' || platform === 'darwin' || platform === 'win32') return platform
  throw new UserError(`dns-setup supports Linux, macOS and Windows, not ${platform}`, {
    suggestion: "send names under highway's domain to the bridge address by hand in this system's resolver configuration",
  })
}
