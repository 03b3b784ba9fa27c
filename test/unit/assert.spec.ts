import { describe, it, expect } from 'vitest'
import { assert, AssertionError } from '../../src/util/assert.js'

describe('assert', () => {
  it('throws AssertionError with the reason', () => {
    expect(() => assert(false, 'x must hold')).toThrow(AssertionError)
    expect(() => assert(1 === 1, 'fine')).not.toThrow()
  })
})
