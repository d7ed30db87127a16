import {describe, expect, it} from 'vitest'
import {TimeoutError, UserError, isUserError} from '../../../src/core/errors.js'

describe('isUserError', () => {
  it('recognises a UserError and a TimeoutError, and a copy of either class from another module copy by its shape', () => {
    // What a second copy of core/errors.js (a bundle beside `run --replace`'s module) throws.
    class CopiedUserError extends Error {
      readonly exitCode = 130
      constructor(message: string) {
        super(message)
        this.name = 'UserError'
      }
    }
    expect([new UserError('x'), new TimeoutError('y'), new CopiedUserError('z')].map(isUserError)).toEqual([true, true, true])
  })

  it('takes nothing else for one: a bug stays a bug', () => {
    const named = Object.assign(new Error('no exit code'), {name: 'UserError'})
    expect([new Error('x'), new TypeError('y'), named, {name: 'UserError', exitCode: 1}, null].map(isUserError)).toEqual([false, false, false, false, false])
  })
})
