import {Command, Errors} from '@oclif/core'
import {isUserError} from '../core/errors.js'

/**
 * Every highway command extends this: a UserError becomes one line (plus its suggestion) and its
 * exit code, never a stack trace; anything else is a bug and keeps oclif's full report.
 */
export abstract class HighwayCommand extends Command {
  protected async catch(error: Error & {exitCode?: number}): Promise<unknown> {
    if (isUserError(error)) {
      // Straight to stderr: oclif silences logToStderr under --json, and the line must always show.
      process.stderr.write(`highway: ${error.message}\n${error.suggestion ? `  ${error.suggestion}\n` : ''}`)
      if (this.jsonEnabled()) this.logJson({error: {exitCode: error.exitCode, message: error.message, suggestion: error.suggestion ?? null}})
      this.exit(error.exitCode)
    }
    if (error instanceof Errors.ExitError) throw error
    return super.catch(error)
  }
}
