import { Level } from 'level'
import { decodeSnapshotMeta, encodeSnapshotMeta } from '../migration/codec.ts'
import { CorruptSnapshotError } from '../migration/errors.ts'
import type { SnapshotMeta } from '../migration/snapshot.ts'
import { cloneSnapshotMeta, firstBadChunk } from '../migration/snapshot.ts'
import type { DurableState, LogEntry, PersistBatch, Slot } from '../paxos/types.ts'
import { BOTTOM_BALLOT } from '../paxos/types.ts'
import type { AbortOptions, Storage } from '../vpeer/interfaces.ts'
import { checkEntry } from './batch.ts'
import type { MetaRecord } from './codec.ts'
import {
  CODEC_LIMITS,
  decodeLogEntry,
  decodeMeta,
  decodeSnapshotRecord,
  encodeLogEntry,
  encodeMeta,
  encodeSnapshotRecord
} from './codec.ts'
import {
  AbortError,
  CompactBeyondSnapshotError,
  CorruptRecordError,
  describeCause,
  InvalidRecordError,
  StaleSnapshotError,
  StorageClosedError,
  StorageError,
  StorageWriteError
} from './errors.ts'
import {
  describeKey,
  LOG_RANGE,
  logKey,
  META_KEY,
  PIECE_RANGE,
  pieceKey,
  pieceOfKey,
  SNAPSHOT_KEY,
  slotOfLogKey
} from './keys.ts'
import { checkCompactUpTo, checkSnapshot } from './snapshot.ts'

export interface LevelStorageOptions {
  /** Create the folder's database if there is none. Default `true`. */
  createIfMissing?: boolean
  /** Fail if a database already exists there. Default `false`. */
  errorIfExists?: boolean
  /**
   * Bytes per stored piece of a snapshot's state (default `SNAPSHOT_PIECE_BYTES`): a large
   * state is cut so that no single LevelDB value is huge. Each snapshot records its own piece
   * size, so changing this option never makes an existing snapshot unreadable.
   */
  snapshotPieceBytes?: number
}

/** Default piece size of a stored snapshot state: 1 MiB. */
export const SNAPSHOT_PIECE_BYTES = 1024 * 1024

type Op = { type: 'put', key: Uint8Array, value: Uint8Array } | { type: 'del', key: Uint8Array }

/** The snapshot record as last read or written, with its manifest decoded. */
interface SnapshotHead {
  readonly meta: SnapshotMeta
  readonly pieceBytes: number
  readonly pieceCount: number
}

type Db = Level<Uint8Array, Uint8Array>

// Log entries are read in chunks: one native call per chunk instead of one per entry.
const LOAD_CHUNK_ENTRIES = 1024

/**
 * `Storage` over LevelDB (`level`). Key layout in `keys.ts`, record format in `codec.ts`.
 *
 * Each `persist` is exactly one `db.batch(ops, { sync: true })`: LevelDB appends the batch to its
 * write-ahead log as one record and fsyncs it, so after a crash all of it is there or none of it.
 * Operations run one at a time in call order, which keeps the cached meta record (needed to
 * rewrite it when a batch changes only one of its two fields) equal to what is on disk.
 *
 * `installSnapshot` and `compact` are one synced batch each too: the new pieces, the deletion of
 * stale pieces and of the log prefix, the snapshot record and the raised commitIndex land
 * together or not at all. LevelDB has no range delete inside a batch, so the keys to delete are
 * listed first (they cannot change meanwhile: operations run one at a time).
 */
export class LevelStorage implements Storage {
  /** Folder of the database. */
  readonly path: string
  private readonly db: Db
  // What the meta key holds, once read; updated only after a successful write.
  private meta: MetaRecord | undefined
  // The snapshot record, once read: `{ head: undefined }` means "none stored".
  private snapshotHead: { head: SnapshotHead | undefined } | undefined
  private readonly pieceBytes: number
  private tail: Promise<unknown> = Promise.resolve()
  private closing: Promise<void> | undefined

  private constructor (db: Db, path: string, pieceBytes: number) {
    this.db = db
    this.path = path
    this.pieceBytes = pieceBytes
  }

  /** Opens (by default creating) the database in folder `path`. */
  static async open (path: string, options: LevelStorageOptions = {}): Promise<LevelStorage> {
    const pieceBytes = options.snapshotPieceBytes ?? SNAPSHOT_PIECE_BYTES
    if (!Number.isSafeInteger(pieceBytes) || pieceBytes < 1 || pieceBytes > CODEC_LIMITS.recordBytesMax) {
      throw new InvalidRecordError('snapshotPieceBytes', `expected an integer in 1..${CODEC_LIMITS.recordBytesMax}, got ${String(pieceBytes)}`)
    }
    const db: Db = new Level<Uint8Array, Uint8Array>(path, {
      keyEncoding: 'view',
      valueEncoding: 'view',
      createIfMissing: options.createIfMissing ?? true,
      errorIfExists: options.errorIfExists ?? false
    })
    try {
      await db.open()
    } catch (err) {
      throw new StorageError(`Cannot open LevelDB at ${path}: ${describeCause(rootCause(err))}`, 'ERR_STORAGE_OPEN', { cause: err })
    }
    return new LevelStorage(db, path, pieceBytes)
  }

  load (options: AbortOptions = {}): Promise<DurableState> {
    return this.run(options, async () => {
      const meta = await this.readMeta()
      const log = new Map<Slot, LogEntry>()
      const iterator = this.db.iterator({ gte: LOG_RANGE.gte, lt: LOG_RANGE.lt })
      try {
        while (true) {
          let chunk: Array<[Uint8Array, Uint8Array]>
          try {
            chunk = await iterator.nextv(LOAD_CHUNK_ENTRIES)
          } catch (err) {
            throw readError('log', err)
          }
          if (chunk.length === 0) break
          for (const [key, value] of chunk) {
            // Never skip a bad record: it may be a vote this acceptor promised to remember.
            log.set(slotOfLogKey(key), decodeLogEntry(value, describeKey(key)))
          }
        }
      } finally {
        await iterator.close().catch(() => {})
      }
      return { promised: meta.promised, commitIndex: meta.commitIndex, log }
    })
  }

  persist (batch: PersistBatch, options: AbortOptions = {}): Promise<void> {
    // Taken now, not when the queued operation starts: the caller may reuse its batch object.
    const { promised, commitIndex } = batch
    const entries = batch.entries.slice()
    return this.run(options, async () => {
      // Encode everything first: an entry that cannot be stored rejects before any I/O.
      const ops: Op[] = []
      for (const [slot, entry] of entries) {
        ops.push({ type: 'put', key: logKey(slot), value: checkEntry(slot, entry, encodeLogEntry) })
      }
      let meta: MetaRecord | undefined
      if (promised !== undefined || commitIndex !== undefined) {
        const current = promised !== undefined && commitIndex !== undefined ? undefined : await this.readMeta()
        meta = {
          promised: promised ?? current?.promised ?? BOTTOM_BALLOT,
          commitIndex: commitIndex ?? current?.commitIndex ?? 0
        }
        ops.push({ type: 'put', key: META_KEY, value: encodeMeta(meta) })
      }
      // Nothing to write means nothing to make durable: every earlier persist was already synced.
      if (ops.length === 0) return
      try {
        await this.db.batch(ops, { sync: true })
      } catch (err) {
        throw new StorageWriteError(err, `LevelDB batch failed: ${describeCause(rootCause(err))}`)
      }
      if (meta !== undefined) this.meta = meta
    })
  }

  /**
   * Replaces the snapshot and drops the log up to `meta.index` in one synced batch; raises
   * commitIndex to at least `meta.index`. Refused before any write: a manifest or state that do
   * not match (`InvalidRecordError`, checked at call time on a private copy, so the bytes stored
   * are the bytes checked), an index below the stored snapshot's (`StaleSnapshotError`). A stored
   * snapshot record that does not decode does not block the install: a fresh snapshot from a peer
   * is exactly how such a node is repaired.
   */
  installSnapshot (meta: SnapshotMeta, state: Uint8Array, options: AbortOptions = {}): Promise<void> {
    let manifest: Uint8Array
    let copy: Uint8Array
    let mine: SnapshotMeta
    try {
      checkSnapshot(meta, state)
      mine = cloneSnapshotMeta(meta)
      manifest = encodeSnapshotMeta(mine)
      copy = new Uint8Array(state)
    } catch (err) {
      return Promise.reject(err)
    }
    return this.run(options, async () => {
      let stored: SnapshotHead | undefined
      try {
        stored = await this.readSnapshotHead()
      } catch (err) {
        if (!(err instanceof CorruptRecordError)) throw err
      }
      if (stored !== undefined && mine.index < stored.meta.index) throw new StaleSnapshotError(mine.index, stored.meta.index)
      const current = await this.readMeta()

      const pieceBytes = this.pieceBytes
      const pieceCount = Math.ceil(copy.byteLength / pieceBytes)
      const ops: Op[] = []
      for (let n = 0; n < pieceCount; n++) {
        ops.push({ type: 'put', key: pieceKey(n), value: copy.subarray(n * pieceBytes, (n + 1) * pieceBytes) })
      }
      // Whatever else is in the piece range goes: the previous snapshot's extra pieces, and any
      // stray key (listing the range, not trusting the old record, which may be the corrupt one).
      for (const key of await this.keysIn('snapshot pieces', PIECE_RANGE)) {
        if (!isPieceBelow(key, pieceCount)) ops.push({ type: 'del', key })
      }
      ops.push(...await this.logDeletions(mine.index))
      ops.push({ type: 'put', key: SNAPSHOT_KEY, value: encodeSnapshotRecord({ pieceBytes, pieceCount, manifest }) })
      const meta: MetaRecord = { promised: current.promised, commitIndex: Math.max(current.commitIndex, mine.index) }
      ops.push({ type: 'put', key: META_KEY, value: encodeMeta(meta) })
      await this.write(ops)
      this.meta = meta
      this.snapshotHead = { head: { meta: mine, pieceBytes, pieceCount } }
    })
  }

  /**
   * The installed snapshot, read from disk and verified: manifest root, piece layout, and every
   * chunk hash against the state. Anything off is a `CorruptRecordError` naming the key.
   */
  loadSnapshot (options: AbortOptions = {}): Promise<{ meta: SnapshotMeta, state: Uint8Array } | undefined> {
    return this.run(options, async () => {
      // From disk, not the cache: this is the read that must notice corruption.
      this.snapshotHead = undefined
      const head = await this.readSnapshotHead()
      if (head === undefined) return undefined
      const { meta, pieceBytes, pieceCount } = head
      const state = new Uint8Array(meta.size)
      let next = 0
      const iterator = this.db.iterator({ gte: PIECE_RANGE.gte, lt: PIECE_RANGE.lt })
      try {
        while (true) {
          let chunk: Array<[Uint8Array, Uint8Array]>
          try {
            chunk = await iterator.nextv(16)
          } catch (err) {
            throw readError('snapshot pieces', err)
          }
          if (chunk.length === 0) break
          for (const [key, value] of chunk) {
            const n = pieceOfKey(key)
            if (n !== next) {
              throw new CorruptRecordError('snapshot piece', n > next ? `piece ${next} is missing` : `unexpected piece ${n}`, { key: describeKey(key) })
            }
            if (n >= pieceCount) {
              throw new CorruptRecordError('snapshot piece', `piece ${n} beyond the ${pieceCount} recorded`, { key: describeKey(key) })
            }
            const expected = Math.min(pieceBytes, meta.size - n * pieceBytes)
            if (value.byteLength !== expected) {
              throw new CorruptRecordError('snapshot piece', `${value.byteLength} bytes, expected ${expected}`, { key: describeKey(key) })
            }
            state.set(value, n * pieceBytes)
            next++
          }
        }
      } finally {
        await iterator.close().catch(() => {})
      }
      if (next !== pieceCount) {
        throw new CorruptRecordError('snapshot piece', `piece ${next} of ${pieceCount} is missing`, { key: describeKey(pieceKey(next)) })
      }
      // The load side of the pair assertion: the bytes must still be the ones the root vouches for.
      const bad = firstBadChunk(meta, state)
      if (bad !== undefined) {
        // Pieces carry no hash of their own; name every piece the bad chunk overlaps.
        const start = bad * meta.chunkSize
        const end = Math.min(meta.size, start + meta.chunkSize)
        const first = Math.floor(start / pieceBytes)
        const last = Math.floor((end - 1) / pieceBytes)
        const pieces = first === last ? `piece ${first}` : `pieces ${first}..${last}`
        throw new CorruptRecordError('snapshot state', `chunk ${bad} (bytes ${start}..${end}, ${pieces}) does not match its hash in the manifest`, { key: describeKey(pieceKey(first)) })
      }
      return { meta: cloneSnapshotMeta(meta), state }
    })
  }

  /**
   * Drops log entries with slot ≤ `upTo` in one synced batch. Refused before any write when
   * `upTo` is above the stored snapshot's index (`CompactBeyondSnapshotError`), or when the
   * snapshot record does not decode (`CorruptRecordError`: the bound cannot be known).
   */
  compact (upTo: Slot, options: AbortOptions = {}): Promise<void> {
    try {
      checkCompactUpTo(upTo)
    } catch (err) {
      return Promise.reject(err)
    }
    return this.run(options, async () => {
      const head = await this.readSnapshotHead()
      const snapshotIndex = head?.meta.index ?? 0
      if (upTo > snapshotIndex) throw new CompactBeyondSnapshotError(upTo, snapshotIndex)
      const ops = await this.logDeletions(upTo)
      if (ops.length > 0) await this.write(ops)
    })
  }

  /** Waits for the operations already started, then closes the database. Idempotent. */
  close (): Promise<void> {
    if (this.closing === undefined) {
      const previous = this.tail
      this.closing = (async () => {
        await previous.catch(() => {})
        try {
          await this.db.close()
        } catch (err) {
          throw new StorageError(`Cannot close LevelDB at ${this.path}: ${describeCause(rootCause(err))}`, 'ERR_STORAGE_CLOSE', { cause: err })
        }
      })()
    }
    return this.closing
  }

  private run<T> (options: AbortOptions, operation: () => Promise<T>): Promise<T> {
    if (this.closing !== undefined) return Promise.reject(new StorageClosedError())
    const signal = options.signal
    const result = this.tail.then(async () => {
      // Checked when the operation starts, not only when it is queued. Once LevelDB has the
      // batch it cannot be called back, so an abort never interrupts a write halfway.
      if (signal?.aborted === true) throw new AbortError(undefined, signal.reason)
      return await operation()
    })
    this.tail = result.catch(() => {})
    return result
  }

  private async write (ops: Op[]): Promise<void> {
    try {
      await this.db.batch(ops, { sync: true })
    } catch (err) {
      throw new StorageWriteError(err, `LevelDB batch failed: ${describeCause(rootCause(err))}`)
    }
  }

  private async keysIn (what: string, range: { gte: Uint8Array, lt?: Uint8Array, lte?: Uint8Array }): Promise<Uint8Array[]> {
    try {
      return await this.db.keys(range).all()
    } catch (err) {
      throw readError(what, err)
    }
  }

  /** Deletions of every log key with slot ≤ `upTo`. */
  private async logDeletions (upTo: Slot): Promise<Op[]> {
    if (upTo < 1) return []
    const keys = await this.keysIn('log', { gte: LOG_RANGE.gte, lte: logKey(upTo) })
    return keys.map((key) => ({ type: 'del', key }))
  }

  private async readSnapshotHead (): Promise<SnapshotHead | undefined> {
    if (this.snapshotHead !== undefined) return this.snapshotHead.head
    let bytes: Uint8Array | undefined
    try {
      bytes = await this.db.get(SNAPSHOT_KEY)
    } catch (err) {
      throw readError('snapshot', err)
    }
    let head: SnapshotHead | undefined
    if (bytes !== undefined) {
      const key = describeKey(SNAPSHOT_KEY)
      const record = decodeSnapshotRecord(bytes, key)
      let meta: SnapshotMeta
      try {
        meta = decodeSnapshotMeta(record.manifest)
      } catch (err) {
        if (err instanceof CorruptSnapshotError) throw new CorruptRecordError('snapshot', err.reason, { key, cause: err })
        throw err
      }
      if (record.pieceCount !== Math.ceil(meta.size / record.pieceBytes)) {
        throw new CorruptRecordError('snapshot', `${record.pieceCount} pieces of ${record.pieceBytes} bytes cannot hold ${meta.size} bytes`, { key })
      }
      head = { meta, pieceBytes: record.pieceBytes, pieceCount: record.pieceCount }
    }
    this.snapshotHead = { head }
    return head
  }

  private async readMeta (): Promise<MetaRecord> {
    if (this.meta !== undefined) return this.meta
    let bytes: Uint8Array | undefined
    try {
      bytes = await this.db.get(META_KEY)
    } catch (err) {
      throw readError('meta', err)
    }
    const meta = bytes === undefined
      ? { promised: BOTTOM_BALLOT, commitIndex: 0 }
      : decodeMeta(bytes, describeKey(META_KEY))
    this.meta = meta
    return meta
  }
}

/** True for a well-formed piece key numbered below `count` (one the new snapshot overwrites). */
function isPieceBelow (key: Uint8Array, count: number): boolean {
  try {
    return pieceOfKey(key) < count
  } catch {
    return false
  }
}

function readError (what: string, err: unknown): StorageError {
  if (err instanceof StorageError) return err
  const cause = rootCause(err)
  if (hasCode(err, 'LEVEL_CORRUPTION') || hasCode(cause, 'LEVEL_CORRUPTION')) {
    return new CorruptRecordError(what, `LevelDB reports corruption: ${describeCause(cause)}`, { cause: err })
  }
  return new StorageError(`Cannot read ${what} from LevelDB: ${describeCause(cause)}`, 'ERR_STORAGE_READ', { cause: err })
}

// level wraps native errors (LEVEL_IO_ERROR around the OS error); the innermost says what happened.
function rootCause (err: unknown): unknown {
  let current = err
  for (let depth = 0; depth < 8 && current instanceof Error && current.cause !== undefined; depth++) {
    current = current.cause
  }
  return current
}

function hasCode (err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code
}
