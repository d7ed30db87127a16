import {describe, expect, it} from 'vitest'
import {colourLevel} from '../../../src/cli/output.js'

describe('colourLevel', () => {
  it('is 0 under NO_COLOR even on a terminal chalk would colour', () => {
    expect(colourLevel({NO_COLOR: '1'}, 3)).toBe(0)
    expect(colourLevel({FORCE_COLOR: '3', NO_COLOR: 'true'}, 3)).toBe(0)
  })

  it('keeps what chalk detected otherwise, an empty NO_COLOR included (no-color.org)', () => {
    expect(colourLevel({}, 2)).toBe(2)
    expect(colourLevel({NO_COLOR: ''}, 3)).toBe(3)
    expect(colourLevel({}, 0)).toBe(0)
  })
})
