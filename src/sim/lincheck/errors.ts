import { CodedError } from '../../util/errors.js'

/**
 * Operating errors of the linearizability checker. A history comes from outside (a file, a
 * simulator run, a Jepsen-style client), so a bad one is the world's fault and gets a typed
 * error with a stable `code`, never an assertion.
 */
export class MalformedHistoryError extends CodedError {
  static override name = 'MalformedHistoryError'
  /**
   * @param line - 1-based line of the JSON-lines text; for events built in code, the 1-based
   *   position of the event in the array (unless the event carries its own `line`).
   * @param reason - what is wrong, without the line number.
   */
  constructor (readonly line: number, readonly reason: string) {
    super(`line ${line}: ${reason}`, 'ERR_MALFORMED_HISTORY')
  }
}

/** A `checkHistory` option that cannot be used (a negative budget, a fractional step count). */
export class InvalidCheckOptionError extends CodedError {
  static override name = 'InvalidCheckOptionError'
  constructor (message: string, readonly option: string) {
    super(message, 'ERR_LINCHECK_INVALID_OPTION')
  }
}

/**
 * A sequential model that breaks the checker's contract: `step` threw, or changed the state it
 * was given (the search keeps earlier states and revisits them, so a model must return a new
 * state instead). The message names the model and the input.
 */
export class InvalidModelError extends Error {
  static override name = 'InvalidModelError'
  readonly code = 'ERR_LINCHECK_INVALID_MODEL'
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'InvalidModelError'
  }
}
