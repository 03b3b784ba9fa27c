/**
 * Operating errors of the storage layer. Each carries a stable `code` so callers can branch on
 * it without `instanceof` across package copies (the js-libp2p convention). Programmer errors
 * are not here: they are `AssertionError`s from `src/util/assert.ts`.
 */

import { CodedError } from '../util/errors.js'
import type { CodedErrorOptions } from '../util/errors.js'

export type StorageErrorOptions = CodedErrorOptions

/** Base class of every error a `Storage` rejects with (except `AbortError`, shared by all of vpeer). */
export class StorageError extends CodedError {
  static override name = 'StorageError'

  constructor (message: string, code = 'ERR_STORAGE', options: StorageErrorOptions = {}) {
    super(message, code, options)
  }
}

/**
 * What an operator should do with a node whose durable state was found damaged. Part of every
 * `DamagedStorageError`'s message: the error reaches whoever starts the node.
 */
export const DAMAGED_STORAGE_ADVICE = 'This node\'s durable state cannot be trusted, so it must not vote with it. ' +
  'Keep the folder as it is for inspection; remove this node from the group (or let the replacement policy replace it) ' +
  'and start it again with an empty folder under a new identity. See src/storage/README.md, "Damaged storage".'

export interface DamageDetails {
  /** The storage key (readable form, e.g. `log/42`) or file where the damage was found. */
  key?: string
  cause?: unknown
}

/**
 * The stored state is damaged or incomplete: a record that does not verify, a record missing,
 * acknowledged writes lost. A node that gets this must not take part in the protocol with what
 * it loaded (it could vote against a promise it no longer remembers). Carries what was found
 * (`code`, `key`, `reason`), so that a recovering replica mode can later decide what to re-learn.
 */
export class DamagedStorageError extends StorageError {
  static override name = 'DamagedStorageError'
  readonly key: string | undefined
  readonly reason: string

  constructor (summary: string, code: string, reason: string, details: DamageDetails = {}) {
    super(`${summary}. ${DAMAGED_STORAGE_ADVICE}`, code, 'cause' in details ? { cause: details.cause } : {})
    this.name = 'DamagedStorageError'
    this.key = details.key
    this.reason = reason
  }
}

export interface CorruptRecordDetails extends DamageDetails {
  /** Byte offset inside the record where decoding failed. */
  offset?: number
}

/**
 * Stored bytes that do not verify (checksum, key binding, decoding). Never skipped: a record
 * that silently disappears could be an accepted value the acceptor promised to remember, and
 * forgetting it breaks Paxos safety.
 */
export class CorruptRecordError extends DamagedStorageError {
  static override name = 'CorruptRecordError'
  /** What was being decoded: `'log entry'`, `'meta'`, `'log key'`. */
  readonly record: string
  readonly offset: number | undefined

  constructor (record: string, reason: string, details: CorruptRecordDetails = {}) {
    const where = [
      details.key === undefined ? undefined : `key ${details.key}`,
      details.offset === undefined ? undefined : `byte ${details.offset}`
    ].filter((part) => part !== undefined).join(', ')
    super(`Corrupt ${record}${where === '' ? '' : ` (${where})`}: ${reason}`, 'ERR_CORRUPT_RECORD', reason, details)
    this.name = 'CorruptRecordError'
    this.record = record
    this.offset = details.offset
  }
}

/**
 * Every record verifies, but together they are not a state this storage could have written: a
 * record missing (the meta or head record, a committed slot, the snapshot the head names), a
 * record older or newer than the head says, a commit index below the snapshot's.
 */
export class IncompleteStateError extends DamagedStorageError {
  static override name = 'IncompleteStateError'

  constructor (reason: string, details: DamageDetails = {}) {
    super(`Incomplete durable state${details.key === undefined ? '' : ` (key ${details.key})`}: ${reason}`, 'ERR_INCOMPLETE_STATE', reason, details)
    this.name = 'IncompleteStateError'
  }
}

/**
 * The database is older than the witness file says it was when the last write was acknowledged:
 * acknowledged, fsync'd batches are gone (a lost tail of LevelDB's write-ahead log, deleted
 * files). `durableSeq` is the last batch the database holds, `acknowledgedSeq` the witness's.
 */
export class LostWritesError extends DamagedStorageError {
  static override name = 'LostWritesError'
  readonly durableSeq: number
  readonly acknowledgedSeq: number

  constructor (durableSeq: number, acknowledgedSeq: number, reason: string, details: DamageDetails = {}) {
    super(`Acknowledged writes lost: ${reason}`, 'ERR_LOST_WRITES', reason, details)
    this.name = 'LostWritesError'
    this.durableSeq = durableSeq
    this.acknowledgedSeq = acknowledgedSeq
  }
}

/**
 * The witness file and the database do not describe the same history: the witness is missing,
 * damaged in both copies, belongs to another database, or names a different batch.
 */
export class WitnessMismatchError extends DamagedStorageError {
  static override name = 'WitnessMismatchError'

  constructor (reason: string, details: DamageDetails = {}) {
    super(`Witness does not match the database: ${reason}`, 'ERR_WITNESS_MISMATCH', reason, details)
    this.name = 'WitnessMismatchError'
  }
}

/**
 * LevelDB itself found its files damaged: it refused to open (a corrupt MANIFEST), or it reported
 * that it dropped bytes of its write-ahead log while recovering (which it does silently when
 * paranoid checks are off, as in classic-level).
 */
export class DatabaseCorruptError extends DamagedStorageError {
  static override name = 'DatabaseCorruptError'

  constructor (reason: string, details: DamageDetails = {}) {
    super(`LevelDB files damaged: ${reason}`, 'ERR_CORRUPT_DATABASE', reason, details)
    this.name = 'DatabaseCorruptError'
  }
}

/**
 * A record or database in a storage format this build does not read (written by another
 * version). There is no migration: refuse rather than guess.
 */
export class UnsupportedFormatError extends DamagedStorageError {
  static override name = 'UnsupportedFormatError'
  readonly version: number

  constructor (version: number, reason: string, details: DamageDetails = {}) {
    super(`Unsupported storage format ${version}: ${reason}`, 'ERR_UNSUPPORTED_FORMAT', reason, details)
    this.name = 'UnsupportedFormatError'
    this.version = version
  }
}

/**
 * A value the codec cannot represent faithfully (not a safe integer, a lone UTF-16 surrogate, a
 * size over a limit). Raised before anything is written, so the stored state is unchanged.
 */
export class InvalidRecordError extends StorageError {
  static override name = 'InvalidRecordError'
  readonly field: string
  readonly reason: string

  constructor (field: string, reason: string) {
    super(`Cannot store ${field}: ${reason}`, 'ERR_INVALID_RECORD')
    this.name = 'InvalidRecordError'
    this.field = field
    this.reason = reason
  }
}

export class StorageClosedError extends StorageError {
  static override name = 'StorageClosedError'

  constructor (message = 'Storage is closed') {
    super(message, 'ERR_STORAGE_CLOSED')
    this.name = 'StorageClosedError'
  }
}

/** A write the device refused (for example a full disk). Nothing of the batch was applied. */
export class StorageWriteError extends StorageError {
  static override name = 'StorageWriteError'

  constructor (cause: unknown, message = `Storage write failed: ${describeCause(cause)}`) {
    super(message, 'ERR_STORAGE_WRITE', { cause })
    this.name = 'StorageWriteError'
  }
}

/** A write that was still waiting for its fsync when the (simulated) process crashed. */
export class StorageCrashedError extends StorageError {
  static override name = 'StorageCrashedError'

  constructor (message = 'Write lost: the node crashed before it was synced') {
    super(message, 'ERR_STORAGE_CRASHED')
    this.name = 'StorageCrashedError'
  }
}

/**
 * `installSnapshot` with a snapshot older than the stored one. Installing it would leave the
 * slots between the two indexes with neither log entries (the newer snapshot compacted them) nor
 * a snapshot that covers them. Nothing was written.
 */
export class StaleSnapshotError extends StorageError {
  static override name = 'StaleSnapshotError'
  readonly index: number
  readonly storedIndex: number

  constructor (index: number, storedIndex: number) {
    super(`Snapshot at index ${index} is older than the stored snapshot at ${storedIndex}`, 'ERR_STALE_SNAPSHOT')
    this.name = 'StaleSnapshotError'
    this.index = index
    this.storedIndex = storedIndex
  }
}

/**
 * `compact(upTo)` above the stored snapshot's index (or with no snapshot at all). The entries it
 * would drop are chosen values that no snapshot covers yet: losing them loses committed state.
 * Nothing was written.
 */
export class CompactBeyondSnapshotError extends StorageError {
  static override name = 'CompactBeyondSnapshotError'
  readonly upTo: number
  readonly snapshotIndex: number

  constructor (upTo: number, snapshotIndex: number) {
    super(`Cannot compact the log up to ${upTo}: the stored snapshot covers slots up to ${snapshotIndex} only`, 'ERR_COMPACT_BEYOND_SNAPSHOT')
    this.name = 'CompactBeyondSnapshotError'
    this.upTo = upTo
    this.snapshotIndex = snapshotIndex
  }
}

/** The caller's signal was aborted before the operation started; nothing was done. */
export { AbortError } from '../util/errors.js'

export function describeCause (cause: unknown): string {
  if (cause instanceof Error) return cause.message
  return String(cause)
}
