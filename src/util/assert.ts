/**
 * Assertions detect programmer errors (TigerBeetle's line between assertions and operating
 * errors). An `AssertionError` is never caught: a violated invariant means the state can no
 * longer be trusted.
 */
export class AssertionError extends Error {
  static override name = 'AssertionError'
  readonly code = 'ERR_ASSERTION'
  constructor (message: string) {
    super(message)
    this.name = 'AssertionError'
  }
}

export function assert (condition: unknown, why: string | (() => string)): asserts condition {
  if (!condition) throw new AssertionError(typeof why === 'string' ? why : why())
}

export function unreachable (value: never, why = 'unreachable'): never {
  throw new AssertionError(`${why}: ${JSON.stringify(value)}`)
}
