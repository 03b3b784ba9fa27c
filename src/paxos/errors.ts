import { CodedError } from '../util/errors.js'

/**
 * Operating errors of the core: faults of the world or of the caller, which callers handle.
 * Programmer errors are `AssertionError`s (src/util/assert.ts) and are never caught.
 */
export class PaxosError extends CodedError {
  static override name = 'PaxosError'
  constructor (message: string, code = 'ERR_PAXOS') {
    super(message, code)
  }
}

/** The node configuration or a membership configuration is unusable. */
export class ConfigurationError extends PaxosError {
  static override name = 'ConfigurationError'
  constructor (message: string) { super(message, 'ERR_INVALID_CONFIGURATION') }
}

/** A proposal or read reached a node that is not the leader and knows no leader to forward to. */
export class NoLeaderError extends PaxosError {
  static override name = 'NoLeaderError'
  constructor (message = 'no leader is known') { super(message, 'ERR_NO_LEADER') }
}
