import { CodedError } from '../util/errors.js'

/**
 * Operating errors of the simulator infrastructure: a seed or a fault setting that came from
 * outside (a CLI flag, a swarm configuration) and cannot be used. Programmer errors (a negative
 * delay passed by our own code, cancelling a foreign timer) are assertions instead.
 */
export class InvalidSimOptionError extends CodedError {
  static override name = 'InvalidSimOptionError'
  constructor (message = 'Invalid simulator option', readonly option?: string) {
    super(message, 'ERR_SIM_INVALID_OPTION')
  }
}

/** A fault or query named a node the simulated cluster does not have. */
export class UnknownNodeError extends Error {
  static override name = 'UnknownNodeError'
  readonly code = 'ERR_SIM_UNKNOWN_NODE'
  constructor (readonly id: string, known: readonly string[]) {
    super(`no node ${JSON.stringify(id)} (nodes: ${known.join(', ')})`)
    this.name = 'UnknownNodeError'
  }
}
