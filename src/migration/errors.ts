/**
 * Operating errors of snapshot transfer. Each carries a stable `code` so callers can branch on it
 * without `instanceof` across package copies (the js-libp2p convention). Everything here is the
 * world's fault (a peer, the network, a disk); our own mistakes are `AssertionError`s.
 */

import { CodedError } from '../util/errors.js'
import type { CodedErrorOptions } from '../util/errors.js'

export type SnapshotErrorOptions = CodedErrorOptions

/** Base class of every error this module throws on purpose. */
export class SnapshotError extends CodedError {
  static override name = 'SnapshotError'

  constructor (message: string, code = 'ERR_SNAPSHOT', options: SnapshotErrorOptions = {}) {
    super(message, code, options)
  }
}

/**
 * A manifest that is not a manifest: it does not decode, its fields disagree (chunk count versus
 * size and chunk size), or its root is not the hash of its contents. Nothing of it may be trusted,
 * so a receiver built from it does not exist; ask the sender (or another member) for a new offer.
 */
export class CorruptSnapshotError extends SnapshotError {
  static override name = 'CorruptSnapshotError'
  readonly reason: string

  constructor (reason: string, options: SnapshotErrorOptions = {}) {
    super(`Corrupt snapshot: ${reason}`, 'ERR_CORRUPT_SNAPSHOT', options)
    this.reason = reason
  }
}

/**
 * One chunk whose bytes do not hash to the manifest's hash for its position (or have the wrong
 * length). The receiver's state is unchanged, so the same chunk can simply be requested again.
 */
export class CorruptChunkError extends SnapshotError {
  static override name = 'CorruptChunkError'
  readonly chunk: number
  readonly reason: string

  constructor (chunk: number, reason: string) {
    super(`Corrupt snapshot chunk ${chunk}: ${reason}`, 'ERR_CORRUPT_CHUNK')
    this.chunk = chunk
    this.reason = reason
  }
}

/**
 * A manifest over this receiver's limits (total bytes, chunk count or bytes per chunk). Refused
 * before any chunk is asked for, so a hostile or buggy sender cannot make us allocate without
 * bound.
 */
export class SnapshotTooLargeError extends SnapshotError {
  static override name = 'SnapshotTooLargeError'
  readonly limit: string
  readonly actual: number
  readonly max: number

  constructor (limit: string, actual: number, max: number) {
    super(`Snapshot too large: ${limit} ${actual} exceeds the limit of ${max}`, 'ERR_SNAPSHOT_TOO_LARGE')
    this.limit = limit
    this.actual = actual
    this.max = max
  }
}

/**
 * A chunk (or saved receiver state) that belongs to another snapshot: another root, or a position
 * this snapshot does not have. Typical cause: the sender took a newer snapshot while an old stream
 * was still in flight. Not corruption, and the receiver's state is unchanged.
 */
export class SnapshotMismatchError extends SnapshotError {
  static override name = 'SnapshotMismatchError'

  constructor (message: string) {
    super(message, 'ERR_SNAPSHOT_MISMATCH')
  }
}

/**
 * A manifest the codec cannot represent faithfully: an integer that is not a safe natural number,
 * a lone UTF-16 surrogate in a node id, a field over a codec limit, a hash that is not 64
 * lowercase hex digits. Raised when encoding, before anything is sent or stored.
 */
export class InvalidSnapshotError extends SnapshotError {
  static override name = 'InvalidSnapshotError'
  readonly field: string
  readonly reason: string

  constructor (field: string, reason: string) {
    super(`Cannot encode snapshot ${field}: ${reason}`, 'ERR_INVALID_SNAPSHOT')
    this.field = field
    this.reason = reason
  }
}
