import {Command, Errors} from '@oclif/core'
import {isUserError} from '../core/errors.js'

/**
 * Every highway command extends this: a UserError becomes one line (plus its suggestion) and its
 * exit code, never a stack trace; anything else is a bug and keeps oclif's full report.
 */
export abstract class HighwayCommand extends Command {
  protected async catch(error: Error & {exitCode?: number}): Promise<unknown> {
    if (isUserError(error)) {
      this.logToStderr(`highway: ${error.message}`)
      if (error.suggestion) this.logToStderr(`  ${error.suggestion}`)
      this.exit(error.exitCode)
    }
    if (error instanceof Errors.ExitError) throw error
    return super.catch(error)
  }
}
