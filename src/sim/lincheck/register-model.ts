import { hashNumber, hashString } from './hash.js'
import { formatValue } from './history.js'
import type { Scalar } from './history.js'
import type { Model, StepResult } from './model.js'

/** `null` until the first write. */
export type RegisterState = Scalar | null

/**
 * What the checker needs of one register operation. A `cas` here is always one that succeeded
 * if it took effect: a failed cas is removed from the history before the search, and an `info`
 * cas that did not match changed nothing, which is the same as never linearizing it.
 */
export type RegisterInput =
  | { readonly f: 'read', readonly value: Scalar | null }
  | { readonly f: 'write', readonly value: Scalar }
  | { readonly f: 'cas', readonly expected: Scalar | null, readonly next: Scalar }

const rejected: StepResult<RegisterState> = { ok: false, next: null }

/** A single read/write/compare-and-set register, one per key. */
export const registerModel: Model<RegisterState, RegisterInput> = {
  name: 'register',
  init: () => null,
  step (state, input) {
    switch (input.f) {
      case 'read': return input.value === state ? { ok: true, next: state } : rejected
      case 'write': return { ok: true, next: input.value }
      case 'cas': return input.expected === state ? { ok: true, next: input.next } : rejected
    }
  },
  equal: (a, b) => a === b,
  hash (state) {
    if (state === null) return 0x2545f491
    return typeof state === 'string' ? hashString(state) : hashNumber(state)
  },
  describe (input) {
    switch (input.f) {
      case 'read': return `read -> ${formatValue(input.value)}`
      case 'write': return `write ${formatValue(input.value)}`
      case 'cas': return `cas ${formatValue(input.expected)} -> ${formatValue(input.next)}`
    }
  }
}
