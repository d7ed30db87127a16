import {expect} from 'vitest'
import {UserError} from '../../../src/core/errors.js'

/** Runs `fn`, asserts it throws a UserError (a user's mistake, not a bug), and returns it. */
export function userError(fn: () => unknown): UserError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(UserError)
    return error as UserError
  }
  throw new Error('expected a UserError, nothing was thrown')
}

/** The same for a promise: asserts it rejects with a UserError whose message is one line, and returns it. */
export async function rejectedUserError(promise: () => Promise<unknown>): Promise<UserError> {
  try {
    await promise()
  } catch (error) {
    expect(error).toBeInstanceOf(UserError)
    expect((error as UserError).message).not.toContain('\n')
    return error as UserError
  }
  throw new Error('expected a UserError, nothing was thrown')
}
