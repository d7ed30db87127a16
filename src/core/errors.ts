/**
 * A mistake the user can fix: bad input, a missing prerequisite, a taken port. Commands print
 * its message as one line (plus the suggestion) and exit with `exitCode`, never with a stack trace.
 * Anything else that escapes is a bug in highway and is reported as such.
 */
export class UserError extends Error {
  readonly exitCode: number
  readonly suggestion?: string

  constructor(message: string, options: {suggestion?: string; exitCode?: number; cause?: unknown} = {}) {
    super(message, {cause: options.cause})
    this.name = 'UserError'
    this.exitCode = options.exitCode ?? 1
    this.suggestion = options.suggestion
  }
}

/** A wait that ran out of time; the message names what did not happen. */
export class TimeoutError extends UserError {
  constructor(message: string, suggestion?: string) {
    super(message, {exitCode: 1, suggestion})
    this.name = 'TimeoutError'
  }
}

export function isUserError(error: unknown): error is UserError {
  if (error instanceof UserError) return true
  // The prompt's bundles (scripts/bundle-prompt.js) hold a copy of this class, and `run --replace`'s
  // module, loaded beside them, another: a UserError from either is recognised by its shape.
  return error instanceof Error && (error.name === 'UserError' || error.name === 'TimeoutError') && typeof (error as UserError).exitCode === 'number'
}

/** How every entry point prints a UserError: "highway: <message>", the suggestion indented below. */
export function formatUserError(error: UserError): string {
  return `highway: ${error.message}\n${error.suggestion ? `  ${error.suggestion}\n` : ''}`
}
