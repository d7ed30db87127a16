import {Command, Errors} from '@oclif/core'
import {createClients, type Clients} from '../clients.js'
import {formatUserError, isUserError} from '../core/errors.js'

/**
 * Every highway command extends this: its clients come from the composition root (built on first
 * use, closed when the command ends), and a UserError becomes one line (plus its suggestion) and
 * its exit code, never a stack trace; anything else is a bug and keeps oclif's full report.
 */
export abstract class HighwayCommand extends Command {
  private built: Clients | undefined

  protected get clients(): Clients {
    this.built ??= createClients(process.env)
    return this.built
  }

  protected async finally(error: Error | undefined): Promise<unknown> {
    this.built?.close()
    return super.finally(error)
  }

  protected async catch(error: Error & {exitCode?: number}): Promise<unknown> {
    if (isUserError(error)) {
      // Straight to stderr: oclif silences logToStderr under --json, and the line must always show.
      process.stderr.write(formatUserError(error))
      if (this.jsonEnabled()) this.logJson({error: {exitCode: error.exitCode, message: error.message, suggestion: error.suggestion ?? null}})
      this.exit(error.exitCode)
    }
    if (error instanceof Errors.ExitError) throw error
    return super.catch(error)
  }
}

/** Runs `work` with a signal that Ctrl-C (or SIGTERM) aborts with `reason`, so it can undo what it started. */
export async function interruptible<T>(reason: () => Error, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController()
  const onSignal = () => controller.abort(reason())
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    return await work(controller.signal)
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}
