/**
 * Operating errors of file replication. Each has a stable `code` (the js-libp2p convention):
 * a hostile catalog entry, a damaged chunk, a full disk are the world's fault and are handled;
 * our own mistakes are `AssertionError`s.
 */
import { CodedError } from '../util/errors.js'
import type { CodedErrorOptions } from '../util/errors.js'

/** Base class of every error src/sync and src/replica throw on purpose. */
export class SyncError extends CodedError {
  static override name = 'SyncError'
  constructor (message: string, code = 'ERR_SYNC', options?: CodedErrorOptions) {
    super(message, code, options)
  }
}

/**
 * A path that may not be written here: absolute, `..`, empty or `.` segments, a name a platform
 * cannot store, too long, or one that would leave the folder through a symlink. Nothing was
 * written.
 */
export class UnsafePathError extends SyncError {
  static override name = 'UnsafePathError'
  readonly path: string
  readonly reason: string
  constructor (path: string, reason: string, options?: CodedErrorOptions) {
    super(`unsafe path ${JSON.stringify(path.slice(0, 200))}: ${reason}`, 'ERR_UNSAFE_PATH', options)
    this.path = path
    this.reason = reason
  }
}

/** Bytes that claim to be a chunk but do not hash to its id, or exceed the size limit. */
export class CorruptChunkError extends SyncError {
  static override name = 'CorruptChunkError'
  constructor (message: string, options?: CodedErrorOptions) {
    super(message, 'ERR_CORRUPT_CHUNK', options)
  }
}

/** A chunk this node does not have (and was asked for, or needs to assemble a file). */
export class MissingChunkError extends SyncError {
  static override name = 'MissingChunkError'
  readonly chunk: string
  constructor (chunk: string, options?: CodedErrorOptions) {
    super(`chunk ${chunk} is not in the store`, 'ERR_MISSING_CHUNK', options)
    this.chunk = chunk
  }
}

/**
 * The disk is full (ENOSPC, EDQUOT). Whatever was being written was abandoned and removed; what
 * was there before is intact. Retry when space returns.
 */
export class DiskFullError extends SyncError {
  static override name = 'DiskFullError'
  constructor (message: string, options?: CodedErrorOptions) {
    super(message, 'ERR_DISK_FULL', options)
  }
}

/** A catalog command or a block-exchange frame that does not decode, or breaks a limit. */
export class SyncCodecError extends SyncError {
  static override name = 'SyncCodecError'
  constructor (message: string, options?: CodedErrorOptions) {
    super(message, 'ERR_SYNC_CODEC', options)
  }
}

/**
 * Catalog snapshot bytes that `CatalogStateMachine.restore` cannot take: damaged, truncated, of
 * another format, or breaking an invariant of the catalog. The state machine is left as it was.
 */
export class CatalogSnapshotError extends SyncError {
  static override name = 'CatalogSnapshotError'
  constructor (message: string, options?: CodedErrorOptions) {
    super(message, 'ERR_CATALOG_SNAPSHOT', options)
  }
}
