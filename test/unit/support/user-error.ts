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
