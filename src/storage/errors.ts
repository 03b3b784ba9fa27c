/**
 * Operating errors of the storage layer. Each carries a stable `code` so callers can branch on
 * it without `instanceof` across package copies (the js-libp2p convention). Programmer errors
 * are not here: they are `AssertionError`s from `src/util/assert.ts`.
 */

export interface StorageErrorOptions {
  cause?: unknown
}

/** Base class of every error a `Storage` rejects with. */
export class StorageError extends Error {
  static override name = 'StorageError'
  readonly code: string

  constructor (message: string, code = 'ERR_STORAGE', options: StorageErrorOptions = {}) {
    super(message, 'cause' in options ? { cause: options.cause } : undefined)
    this.name = 'StorageError'
    this.code = code
  }
}

export interface CorruptRecordDetails {
  /** The storage key the record was read from, in a readable form (e.g. `log/42`). */
  key?: string
  /** Byte offset inside the record where decoding failed. */
  offset?: number
  cause?: unknown
}

/**
 * Stored bytes that do not decode. Never skipped: a record that silently disappears could be an
 * accepted value the acceptor promised to remember, and forgetting it breaks Paxos safety.
 */
export class CorruptRecordError extends StorageError {
  static override name = 'CorruptRecordError'
  /** What was being decoded: `'log entry'`, `'meta'`, `'log key'`. */
  readonly record: string
  readonly key: string | undefined
  readonly offset: number | undefined
  readonly reason: string

  constructor (record: string, reason: string, details: CorruptRecordDetails = {}) {
    const where = [
      details.key === undefined ? undefined : `key ${details.key}`,
      details.offset === undefined ? undefined : `byte ${details.offset}`
    ].filter((part) => part !== undefined).join(', ')
    super(
      `Corrupt ${record}${where === '' ? '' : ` (${where})`}: ${reason}`,
      'ERR_CORRUPT_RECORD',
      'cause' in details ? { cause: details.cause } : {}
    )
    this.name = 'CorruptRecordError'
    this.record = record
    this.key = details.key
    this.offset = details.offset
    this.reason = reason
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
export class AbortError extends StorageError {
  static override name = 'AbortError'

  constructor (message = 'The operation was aborted', cause?: unknown) {
    super(message, 'ABORT_ERR', cause === undefined ? {} : { cause })
    this.name = 'AbortError'
  }
}

export function describeCause (cause: unknown): string {
  if (cause instanceof Error) return cause.message
  return String(cause)
}
