import { CodedError } from '../util/errors.js'
import type { CodedErrorOptions } from '../util/errors.js'

/** Operating errors of the VirtualPeer runtime, each with a stable `code`. */
export class VirtualPeerError extends CodedError {
  static override name = 'VirtualPeerError'
  constructor (message: string, code = 'ERR_VIRTUAL_PEER', options?: CodedErrorOptions) {
    super(message, code, options)
  }
}

/** The peer is stopped (or crashed); the operation was not started, or its outcome is unknown. */
export class StoppedError extends VirtualPeerError {
  static override name = 'StoppedError'
  constructor (message = 'the virtual peer is stopped', options?: { cause?: unknown }) { super(message, 'ERR_STOPPED', options) }
}

export class NotStartedError extends VirtualPeerError {
  static override name = 'NotStartedError'
  constructor (message = 'the virtual peer has not been started') { super(message, 'ERR_NOT_STARTED') }
}

/** The operation's signal aborted (the one `AbortError` of vpeer). For a submit the command may still be applied later. */
export { AbortError, CodedError, InvalidArgumentError } from '../util/errors.js'
export type { CodedErrorOptions } from '../util/errors.js'

/**
 * A call gave up while this peer knew no leader: from here, no quorum of the group is reachable
 * (a minority partition, too many members down). For a submit the command may still be applied
 * later, if it reached a leader before the quorum was lost. `waitedMs` is how long the call
 * waited, `noLeaderMs` how long this peer has known no leader.
 */
export class NoQuorumError extends VirtualPeerError {
  static override name = 'NoQuorumError'
  readonly waitedMs: number
  readonly noLeaderMs: number
  constructor (message: string, details: { waitedMs: number, noLeaderMs: number, cause?: unknown }) {
    super(message, 'ERR_NO_QUORUM', details.cause === undefined ? undefined : { cause: details.cause })
    this.waitedMs = details.waitedMs
    this.noLeaderMs = details.noLeaderMs
  }
}

export class CommandTooLargeError extends VirtualPeerError {
  static override name = 'CommandTooLargeError'
  constructor (message = 'the command exceeds the batch size limit') { super(message, 'ERR_COMMAND_TOO_LARGE') }
}

/** Too many of this client's commands are pending; retry after some complete. */
export class BusyError extends VirtualPeerError {
  static override name = 'BusyError'
  constructor (message = 'too many pending commands for this client session') { super(message, 'ERR_BUSY') }
}

/** The state machine rejected the command (it threw while applying it, on every replica alike). */
export class ApplyError extends VirtualPeerError {
  static override name = 'ApplyError'
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_APPLY', options) }
}

/** The command's bytes could not be decoded into a command (the same on every replica). */
export class InvalidCommandError extends VirtualPeerError {
  static override name = 'InvalidCommandError'
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_INVALID_COMMAND', options) }
}

/**
 * A retried command the group no longer remembers, so it cannot tell whether it ran: its
 * sequence number is older than the session window, or its whole session expired (no command
 * for `sessionTtlMs`). The client broke the session contract; the command was not run again.
 */
export class SessionExpiredError extends VirtualPeerError {
  static override name = 'SessionExpiredError'
  constructor (message = 'the session no longer remembers this command (older than its window, or the session expired)') { super(message, 'ERR_SESSION_EXPIRED') }
}

/** A membership change did not apply: another change won the epoch compare-and-set, or it is invalid. */
export class ReconfigurationRejectedError extends VirtualPeerError {
  static override name = 'ReconfigurationRejectedError'
  constructor (message: string) { super(message, 'ERR_RECONFIGURATION_REJECTED') }
}

/**
 * A change of the client allow-list was refused when it was applied (the same on every replica;
 * access-list.ts). The subclasses say why; `code` tells them apart across package copies.
 */
export class AccessChangeRefusedError extends VirtualPeerError {
  static override name = 'AccessChangeRefusedError'
}

/** The issuer of an access-list change is not an administrator of the list at that slot. */
export class NotAdminError extends AccessChangeRefusedError {
  static override name = 'NotAdminError'
  constructor (message = 'the issuer is not an administrator of the access list') { super(message, 'ERR_NOT_ADMIN') }
}

/** The change would leave the access list without an administrator. */
export class LastAdminError extends AccessChangeRefusedError {
  static override name = 'LastAdminError'
  constructor (message = 'the last administrator cannot be revoked or demoted') { super(message, 'ERR_LAST_ADMIN') }
}

/** The access list holds its maximum number of peers. */
export class AccessListFullError extends AccessChangeRefusedError {
  static override name = 'AccessListFullError'
  constructor (message = 'the access list is full') { super(message, 'ERR_ACCESS_LIST_FULL') }
}

/** The group runs without access control (no genesis administrators), so there is no list to change. */
export class AccessControlOffError extends AccessChangeRefusedError {
  static override name = 'AccessControlOffError'
  constructor (message = 'access control is off in this group (no genesis administrators)') { super(message, 'ERR_ACCESS_CONTROL_OFF') }
}

/** A client that is not on the group's allow-list asked a member for service (refused before anything reached the log). */
export class AccessRefusedError extends VirtualPeerError {
  static override name = 'AccessRefusedError'
  readonly peer: string
  constructor (peer: string, message = `client ${peer.slice(0, 128)} is not on the group's allow-list`) {
    super(message, 'ERR_ACCESS_REFUSED')
    this.peer = peer
  }
}

/**
 * A configuration certificate command was refused when applied (certificates.ts): a malformed
 * command, an unknown epoch, a signer that was not a voter of the replaced configuration, a
 * signature that does not verify (`ERR_CERTIFICATE_REFUSED`), or certificates are off in this
 * group (`ERR_CERTIFICATES_OFF`). Nothing changed.
 */
export class CertificateRefusedError extends VirtualPeerError {
  static override name = 'CertificateRefusedError'
  constructor (message: string, code: 'ERR_CERTIFICATE_REFUSED' | 'ERR_CERTIFICATES_OFF' = 'ERR_CERTIFICATE_REFUSED') { super(message, code) }
}

/**
 * `ApplyContext.send` refused an output: the outbox holds its maximum of unacknowledged outputs
 * (per target or in bytes) or of target groups (outbox.ts). Thrown inside `apply`, the same on
 * every replica; nothing of the refused output was kept. Room returns as receivers acknowledge.
 */
export class OutboxFullError extends VirtualPeerError {
  static override name = 'OutboxFullError'
  constructor (message = 'the outbox is full') { super(message, 'ERR_OUTBOX_FULL') }
}

/** `ApplyContext.send` was called after the `apply` it was given to returned (outputs belong to a slot). */
export class ApplyContextClosedError extends VirtualPeerError {
  static override name = 'ApplyContextClosedError'
  constructor (message = 'ApplyContext.send called outside the apply it belongs to') { super(message, 'ERR_APPLY_CONTEXT_CLOSED') }
}
