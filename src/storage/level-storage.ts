import { randomBytes } from 'node:crypto'
import { access } from 'node:fs/promises'
import { join } from 'node:path'
import { Level } from 'level'
import { decodeSnapshotMeta, encodeSnapshotMeta } from '../migration/codec.js'
import { CorruptSnapshotError } from '../migration/errors.js'
import type { SnapshotMeta } from '../migration/snapshot.js'
import { cloneSnapshotMeta, firstBadChunk } from '../migration/snapshot.js'
import type { DurableState, LogEntry, PersistBatch, Slot } from '../paxos/index.js'
import { BOTTOM_BALLOT } from '../paxos/index.js'
import type { AbortOptions, Storage } from '../contracts/index.js'
import { checkEntry } from './batch.js'
import type { Head, Op } from './batch-writer.js'
import { BatchWriter } from './batch-writer.js'
import { chainOrigin, hex, sameBytes } from './chain.js'
import type { MetaRecord } from './codec.js'
import {
  CODEC_LIMITS,
  decodeFormatRecord,
  decodeHeadRecord,
  decodeLogEntry,
  decodeMeta,
  decodeSnapshotRecord,
  encodeFormatRecord,
  encodeHeadRecord,
  encodeLogEntry,
  encodeMeta,
  encodeSnapshotRecord,
  ID_BYTES
} from './codec.js'
import { DAMAGE_MARKER_FILE, readDamageMarker, recoveryDrops, writeDamageMarker } from './engine-report.js'
import {
  AbortError,
  CompactBeyondSnapshotError,
  CorruptRecordError,
  DamagedStorageError,
  DatabaseCorruptError,
  describeCause,
  IncompleteStateError,
  InvalidRecordError,
  LostWritesError,
  StaleSnapshotError,
  StorageClosedError,
  StorageError,
  StorageWriteError,
  UnsupportedFormatError,
  WitnessMismatchError
} from './errors.js'
import { openRecord, sealRecord, STORAGE_FORMAT_VERSION } from './frame.js'
import type { OpenedRecord } from './frame.js'
import {
  describeKey,
  FORMAT_KEY,
  HEAD_KEY,
  isLogKey,
  keyEquals,
  META_KEY,
  PIECE_RANGE,
  pieceOfKey,
  SNAPSHOT_KEY,
  slotOfLogKey
} from './keys.js'
import { checkLiveTables } from './leveldb-tables.js'
import { LogDigest } from './log-digest.js'
import { checkCompactUpTo, checkSnapshot } from './snapshot.js'
import { removeWitnessLeftovers, Witness, WITNESS_FILE } from './witness.js'

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

/** The snapshot record as last read or written, with its manifest decoded. */
interface SnapshotHead {
  readonly meta: SnapshotMeta
  readonly pieceBytes: number
  readonly pieceCount: number
}

type Db = Level<Uint8Array, Uint8Array>

/** What the database's own records say at open, before the log is read. */
interface StartState {
  readonly dbId: Uint8Array
  readonly head: Head
  readonly meta: MetaRecord
}

/** A verified read of everything but the snapshot's pieces. */
interface Scan {
  readonly meta: MetaRecord
  readonly log: Map<Slot, LogEntry> | undefined
  readonly digest: LogDigest
  /** The snapshot record, or why it cannot be used. */
  readonly snapshot: { head: SnapshotHead | undefined } | { error: DamagedStorageError }
}

// Log entries are read in chunks: one native call per chunk instead of one per entry.
const LOAD_CHUNK_ENTRIES = 1024
// The smallest key at or above every snapshot piece key; everything below it is read with values.
const BELOW_PIECES = PIECE_RANGE.gte

/**
 * `Storage` over LevelDB (`level`). Key layout in `keys.ts`, record formats in `codec.ts`, the
 * checksummed frame around every value in `frame.ts`. What is verified, and when, is in
 * `README.md` ("Damaged storage").
 *
 * Each write (`persist`, `installSnapshot`, `compact`) is one batch `n`: exactly one
 * `db.batch(ops, { sync: true })` that LevelDB appends to its write-ahead log as one record and
 * fsyncs, so after a crash all of it is there or none of it. Every value in it is sealed with
 * `n`, and it rewrites the head record (`n`, the hash chain, the log digest). Then the witness
 * file records `n` (one in-place write and fdatasync) and only then does the call resolve: a
 * database found older than its witness has lost acknowledged writes.
 *
 * Operations run one at a time in call order, which keeps the cached head, meta record and log
 * digest equal to what is on disk. LevelDB has no range delete inside a batch, so the keys to
 * delete come from the digest (built from a verified scan) or are listed first.
 */
export class LevelStorage implements Storage {
  /** Folder of the database. */
  readonly path: string
  private readonly db: Db
  private readonly witness: Witness
  private readonly dbId: Uint8Array
  // The head and meta records on disk; updated only after a successful write.
  private head: Head
  private meta: MetaRecord
  // Slot → CRC of every log record, from a verified scan; built on the first load or write.
  private digest: LogDigest | undefined
  // The snapshot record, once read: `{ head: undefined }` means "none stored".
  private snapshotHead: { head: SnapshotHead | undefined } | undefined
  // Set when a batch reached LevelDB but not the witness: writes are refused until reopened.
  private broken: StorageError | undefined
  private readonly pieceBytes: number
  private tail: Promise<unknown> = Promise.resolve()
  private closing: Promise<void> | undefined

  private constructor (db: Db, path: string, pieceBytes: number, witness: Witness, start: StartState, digest: LogDigest | undefined) {
    this.db = db
    this.path = path
    this.pieceBytes = pieceBytes
    this.witness = witness
    this.dbId = start.dbId
    this.head = start.head
    this.meta = start.meta
    this.digest = digest
    if (digest !== undefined) this.snapshotHead = { head: undefined }
  }

  /**
   * Opens (by default creating) the database in folder `path`, and checks what can be checked
   * without reading the log: LevelDB's own recovery report, the format, head and meta records,
   * and the witness. Refuses with a `DamagedStorageError` (codes `ERR_CORRUPT_DATABASE`,
   * `ERR_CORRUPT_RECORD`, `ERR_INCOMPLETE_STATE`, `ERR_LOST_WRITES`, `ERR_WITNESS_MISMATCH`,
   * `ERR_UNSUPPORTED_FORMAT`) if anything is off; `load()` checks the rest.
   */
  static async open (path: string, options: LevelStorageOptions = {}): Promise<LevelStorage> {
    const pieceBytes = options.snapshotPieceBytes ?? SNAPSHOT_PIECE_BYTES
    if (!Number.isSafeInteger(pieceBytes) || pieceBytes < 1 || pieceBytes > CODEC_LIMITS.recordBytesMax) {
      throw new InvalidRecordError('snapshotPieceBytes', `expected an integer in 1..${CODEC_LIMITS.recordBytesMax}, got ${String(pieceBytes)}`)
    }
    const marker = await fsStep(path, 'read the damage marker', async () => await readDamageMarker(path))
    if (marker !== undefined) {
      throw new DatabaseCorruptError(`found earlier (${marker.foundAt}, ${marker.code}): ${marker.reason}; this stays so until ${DAMAGE_MARKER_FILE} is removed`, { key: DAMAGE_MARKER_FILE })
    }
    const witnessed = await fsStep(path, 'read the witness', async () => await Witness.read(path))
    if (witnessed !== undefined && !await exists(join(path, 'CURRENT'))) {
      // Never let LevelDB create a new, empty database where one was witnessed.
      throw new LostWritesError(0, witnessed.record?.seq ?? 0, `the LevelDB database is gone (no CURRENT file), but the witness records batch ${witnessed.record?.seq ?? '?'}`, { key: 'CURRENT' })
    }
    // Before LevelDB reads a damaged table and aborts the process (leveldb-tables.ts).
    await fsStep(path, 'check LevelDB\'s tables', async () => { await checkLiveTables(path) })
    const db: Db = new Level<Uint8Array, Uint8Array>(path, {
      keyEncoding: 'view',
      valueEncoding: 'view',
      createIfMissing: witnessed === undefined && (options.createIfMissing ?? true),
      errorIfExists: options.errorIfExists ?? false
    })
    try {
      await db.open()
    } catch (err) {
      if (isCorruption(err)) throw new DatabaseCorruptError(`LevelDB refused to open: ${describeCause(rootCause(err))}`, { cause: err })
      throw new StorageError(`Cannot open LevelDB at ${path}: ${describeCause(rootCause(err))}`, 'ERR_STORAGE_OPEN', { cause: err })
    }
    try {
      const drops = await fsStep(path, 'read LevelDB\'s info log', async () => await recoveryDrops(path))
      if (drops.length > 0) {
        const reason = `LevelDB skipped data while recovering its write-ahead log: ${drops.join('; ')}`
        await fsStep(path, 'write the damage marker', async () => {
          await writeDamageMarker(path, { code: 'ERR_CORRUPT_DATABASE', reason, key: 'LOG', foundAt: new Date().toISOString() })
        })
        throw new DatabaseCorruptError(reason, { key: 'LOG' })
      }
      const start = await readStart(db)
      if (start === undefined) {
        if (witnessed !== undefined) {
          throw new LostWritesError(0, witnessed.record?.seq ?? 0, `the database is empty, but the witness records batch ${witnessed.record?.seq ?? '?'}`, { key: 'format' })
        }
        const created = await initialize(db, path)
        return new LevelStorage(db, path, pieceBytes, created.witness, created.start, new LogDigest())
      }
      const witness = await reconcileWitness(path, start, witnessed)
      return new LevelStorage(db, path, pieceBytes, witness, start, undefined)
    } catch (err) {
      await db.close().catch(() => {})
      throw err
    }
  }

  /**
   * Reads and verifies everything but the snapshot's pieces: every record's checksum and key,
   * every record against the head (no record newer than the last batch, the meta and snapshot
   * records the head names, the log's record count and digest), every key known, and the
   * `DurableState` invariant: every slot in (snapshot index, commitIndex] is in the log.
   */
  load (options: AbortOptions = {}): Promise<DurableState> {
    return this.run(options, async () => {
      const scan = await this.scan(true)
      if ('error' in scan.snapshot) throw scan.snapshot.error
      const snapshotIndex = scan.snapshot.head?.meta.index ?? 0
      checkCommitted(scan.meta.commitIndex, snapshotIndex, scan.digest)
      return { promised: scan.meta.promised, commitIndex: scan.meta.commitIndex, log: scan.log ?? new Map() }
    })
  }

  persist (batch: PersistBatch, options: AbortOptions = {}): Promise<void> {
    // Taken now, not when the queued operation starts: the caller may reuse its batch object.
    const { promised, commitIndex } = batch
    const entries = batch.entries.slice()
    return this.runWrite(options, async () => {
      // Encode everything first: an entry that cannot be stored rejects before any I/O.
      const bodies = entries.map(([slot, entry]) => [slot, checkEntry(slot, entry, encodeLogEntry)] as const)
      let meta: MetaRecord | undefined
      let metaBody: Uint8Array | undefined
      if (promised !== undefined || commitIndex !== undefined) {
        meta = {
          promised: promised ?? this.meta.promised,
          commitIndex: commitIndex ?? this.meta.commitIndex
        }
        metaBody = encodeMeta(meta)
      }
      // Nothing to write means nothing to make durable: every earlier persist was already synced.
      if (bodies.length === 0 && metaBody === undefined) return
      const writer = new BatchWriter(this.head, await this.verifiedDigest())
      for (const [slot, body] of bodies) writer.putLog(slot, body)
      if (metaBody !== undefined) writer.putMeta(metaBody)
      await this.commit(writer)
      if (meta !== undefined) this.meta = meta
    })
  }

  /**
   * Replaces the snapshot and drops the log up to `meta.index` in one synced batch; raises
   * commitIndex to at least `meta.index`. Refused before any write: a manifest or state that do
   * not match (`InvalidRecordError`, checked at call time on a private copy, so the bytes stored
   * are the bytes checked), an index below the stored snapshot's (`StaleSnapshotError`). A stored
   * snapshot record that does not verify does not block the install: a fresh snapshot from a peer
   * is exactly how such a node is repaired. The log must verify (its digest is rewritten).
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
    return this.runWrite(options, async () => {
      const digest = await this.verifiedDigest()
      let stored: SnapshotHead | undefined
      try {
        stored = await this.readSnapshotHead()
      } catch (err) {
        if (!(err instanceof DamagedStorageError)) throw err
      }
      if (stored !== undefined && mine.index < stored.meta.index) throw new StaleSnapshotError(mine.index, stored.meta.index)

      const pieceBytes = this.pieceBytes
      const pieceCount = Math.ceil(copy.byteLength / pieceBytes)
      const writer = new BatchWriter(this.head, digest)
      for (let n = 0; n < pieceCount; n++) writer.putPiece(n, copy.subarray(n * pieceBytes, (n + 1) * pieceBytes))
      // Whatever else is in the piece range goes: the previous snapshot's extra pieces, and any
      // stray key (listing the range, not trusting the old record, which may be the corrupt one).
      for (const key of await this.keysIn('snapshot pieces', PIECE_RANGE)) {
        if (!isPieceBelow(key, pieceCount)) writer.del(key)
      }
      for (const slot of digest.slotsThrough(mine.index)) writer.delLog(slot)
      writer.putSnapshot(encodeSnapshotRecord({ pieceBytes, pieceCount, manifest }))
      const next: MetaRecord = { promised: this.meta.promised, commitIndex: Math.max(this.meta.commitIndex, mine.index) }
      writer.putMeta(encodeMeta(next))
      await this.commit(writer)
      this.meta = next
      this.snapshotHead = { head: { meta: mine, pieceBytes, pieceCount } }
    })
  }

  /**
   * The installed snapshot, read from disk and verified: the record and every piece (checksum,
   * key, written by the batch the head names), the manifest root, the piece layout, and every
   * chunk hash against the state. Anything off is a `DamagedStorageError` naming the key.
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
            const name = describeKey(key)
            if (n !== next) {
              throw new CorruptRecordError('snapshot piece', n > next ? `piece ${next} is missing` : `unexpected piece ${n}`, { key: name })
            }
            if (n >= pieceCount) {
              throw new CorruptRecordError('snapshot piece', `piece ${n} beyond the ${pieceCount} recorded`, { key: name })
            }
            const piece = openRecord(key, value, 'snapshot piece', name)
            if (piece.seq !== this.head.snapshotSeq) {
              throw new IncompleteStateError(`piece written by batch ${piece.seq}, the snapshot by batch ${this.head.snapshotSeq}`, { key: name })
            }
            const expected = Math.min(pieceBytes, meta.size - n * pieceBytes)
            if (piece.body.byteLength !== expected) {
              throw new CorruptRecordError('snapshot piece', `${piece.body.byteLength} bytes, expected ${expected}`, { key: name })
            }
            state.set(piece.body, n * pieceBytes)
            next++
          }
        }
      } finally {
        await iterator.close().catch(() => {})
      }
      if (next !== pieceCount) {
        throw new CorruptRecordError('snapshot piece', `piece ${next} of ${pieceCount} is missing`, { key: `snapshot/piece/${next}` })
      }
      // The load side of the pair assertion: the bytes must still be the ones the root vouches for.
      const bad = firstBadChunk(meta, state)
      if (bad !== undefined) {
        const start = bad * meta.chunkSize
        const end = Math.min(meta.size, start + meta.chunkSize)
        const first = Math.floor(start / pieceBytes)
        const last = Math.floor((end - 1) / pieceBytes)
        const pieces = first === last ? `piece ${first}` : `pieces ${first}..${last}`
        throw new CorruptRecordError('snapshot state', `chunk ${bad} (bytes ${start}..${end}, ${pieces}) does not match its hash in the manifest`, { key: `snapshot/piece/${first}` })
      }
      return { meta: cloneSnapshotMeta(meta), state }
    })
  }

  /**
   * Drops log entries with slot ≤ `upTo` in one synced batch. Refused before any write when
   * `upTo` is above the stored snapshot's index (`CompactBeyondSnapshotError`), or when the
   * snapshot record does not verify (`CorruptRecordError`: the bound cannot be known).
   */
  compact (upTo: Slot, options: AbortOptions = {}): Promise<void> {
    try {
      checkCompactUpTo(upTo)
    } catch (err) {
      return Promise.reject(err)
    }
    return this.runWrite(options, async () => {
      const digest = await this.verifiedDigest()
      const head = await this.readSnapshotHead()
      const snapshotIndex = head?.meta.index ?? 0
      if (upTo > snapshotIndex) throw new CompactBeyondSnapshotError(upTo, snapshotIndex)
      const slots = digest.slotsThrough(upTo)
      if (slots.length === 0) return
      const writer = new BatchWriter(this.head, digest)
      for (const slot of slots) writer.delLog(slot)
      await this.commit(writer)
    })
  }

  /** Waits for the operations already started, then closes the database. Idempotent. */
  close (): Promise<void> {
    if (this.closing === undefined) {
      const previous = this.tail
      this.closing = (async () => {
        await previous.catch(() => {})
        await this.witness.close().catch(() => {})
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
      if (signal?.aborted === true) throw new AbortError(undefined, { cause: signal.reason })
      return await operation()
    })
    this.tail = result.catch(() => {})
    return result
  }

  private runWrite<T> (options: AbortOptions, operation: () => Promise<T>): Promise<T> {
    return this.run(options, async () => {
      if (this.broken !== undefined) throw this.broken
      return await operation()
    })
  }

  /** Writes the batch, then the witness; the caches follow only what is durable. */
  private async commit (writer: BatchWriter): Promise<void> {
    const { ops, head } = writer.finish()
    await this.write(ops)
    this.head = head
    writer.commitDigest()
    try {
      await this.witness.write({ dbId: this.dbId, seq: head.seq, chain: head.chain })
    } catch (err) {
      // The batch is durable, the witness one behind: still a state open() accepts, but a
      // second batch would leave it two behind. Refuse writes until reopened.
      this.broken = new StorageWriteError(err, `Batch ${head.seq} is durable in LevelDB but the witness file could not be updated (${describeCause(rootCause(err))}); reopen the storage to go on`)
      throw this.broken
    }
  }

  private async write (ops: Op[]): Promise<void> {
    try {
      await this.db.batch(ops, { sync: true })
    } catch (err) {
      throw new StorageWriteError(err, `LevelDB batch failed: ${describeCause(rootCause(err))}`)
    }
  }

  private async keysIn (what: string, range: { gte: Uint8Array, lt?: Uint8Array }): Promise<Uint8Array[]> {
    try {
      return await this.db.keys(range).all()
    } catch (err) {
      throw readError(what, err)
    }
  }

  /** The log digest, scanning (and so verifying) the database first if this handle has not. */
  private async verifiedDigest (): Promise<LogDigest> {
    if (this.digest === undefined) await this.scan(false)
    return this.digest as LogDigest
  }

  /**
   * Reads every record below the snapshot pieces with its value, and every key from there on,
   * and checks them against each other and the head. A damaged snapshot record is returned, not
   * thrown, so that installing a fresh snapshot can repair it; anything else throws.
   */
  private async scan (keepEntries: boolean): Promise<Scan> {
    let format: OpenedRecord | undefined
    let headRecord: OpenedRecord | undefined
    let metaRecord: OpenedRecord | undefined
    let snapshotRecord: OpenedRecord | undefined
    const log = keepEntries ? new Map<Slot, LogEntry>() : undefined
    const digest = new LogDigest()
    const head = this.head
    const iterator = this.db.iterator({ lt: BELOW_PIECES })
    try {
      while (true) {
        let chunk: Array<[Uint8Array, Uint8Array]>
        try {
          chunk = await iterator.nextv(LOAD_CHUNK_ENTRIES)
        } catch (err) {
          throw readError('the database', err)
        }
        if (chunk.length === 0) break
        for (const [key, value] of chunk) {
          if (isLogKey(key)) {
            const slot = slotOfLogKey(key)
            const name = describeKey(key)
            // Never skip a bad record: it may be a vote this acceptor promised to remember.
            const record = openRecord(key, value, 'log entry', name)
            if (record.seq > head.seq) {
              throw new IncompleteStateError(`log record written by batch ${record.seq}, after the last batch ${head.seq}`, { key: name })
            }
            const entry = decodeLogEntry(record.body, name)
            log?.set(slot, entry)
            digest.add(slot, record.crc)
          } else if (keyEquals(key, FORMAT_KEY)) {
            format = openRecord(key, value, 'format record', 'format')
          } else if (keyEquals(key, HEAD_KEY)) {
            headRecord = openRecord(key, value, 'head record', 'head')
          } else if (keyEquals(key, META_KEY)) {
            metaRecord = openRecord(key, value, 'meta', 'meta')
          } else if (keyEquals(key, SNAPSHOT_KEY)) {
            // Verified below, where its failure is kept apart.
            snapshotRecord = { seq: -1, body: value, crc: 0 }
          } else {
            throw new CorruptRecordError('key', 'a key this storage never writes (a damaged key?)', { key: describeKey(key) })
          }
        }
      }
    } finally {
      await iterator.close().catch(() => {})
    }
    for (const key of await this.keysIn('snapshot pieces', { gte: BELOW_PIECES })) {
      if (key[0] !== PIECE_RANGE.gte[0]) throw new CorruptRecordError('key', 'a key this storage never writes (a damaged key?)', { key: describeKey(key) })
      pieceOfKey(key)
    }

    // The records read at open must still be there, and still be the same ones.
    if (format === undefined) throw new IncompleteStateError('the format record is missing', { key: 'format' })
    if (!sameBytes(decodeFormatRecord(format.body, 'format').dbId, this.dbId)) {
      throw new IncompleteStateError('the format record changed while the database was open', { key: 'format' })
    }
    if (headRecord === undefined) throw new IncompleteStateError('the head record is missing', { key: 'head' })
    const diskHead = decodeHeadRecord(headRecord.body, 'head')
    if (headRecord.seq !== head.seq || !sameBytes(diskHead.chain, head.chain)) {
      throw new IncompleteStateError(`the head record is batch ${headRecord.seq}, this handle wrote batch ${head.seq}`, { key: 'head' })
    }
    if (metaRecord === undefined) throw new IncompleteStateError('the meta record is missing', { key: 'meta' })
    if (metaRecord.seq !== head.metaSeq) {
      throw new IncompleteStateError(`meta record written by batch ${metaRecord.seq}, the head says batch ${head.metaSeq}`, { key: 'meta' })
    }
    const meta = decodeMeta(metaRecord.body, 'meta')
    if (digest.count !== head.logCount) {
      const what = digest.count < head.logCount ? `${head.logCount - digest.count} missing` : `${digest.count - head.logCount} too many`
      throw new IncompleteStateError(`the log holds ${digest.count} records, the head says ${head.logCount} (${what})`, { key: 'log' })
    }
    if (digest.sum !== head.logSum) {
      throw new IncompleteStateError(`the log's digest is 0x${digest.sum.toString(16)}, the head says 0x${head.logSum.toString(16)}: a record was replaced by another valid one (an older version, or a copy)`, { key: 'log' })
    }

    let snapshot: Scan['snapshot']
    try {
      snapshot = { head: snapshotRecord === undefined ? this.noSnapshot() : this.decodeSnapshotHead(snapshotRecord.body) }
    } catch (err) {
      if (!(err instanceof DamagedStorageError)) throw err
      snapshot = { error: err }
    }
    this.digest = digest
    this.meta = meta
    this.snapshotHead = 'head' in snapshot ? snapshot : undefined
    return { meta, log, digest, snapshot }
  }

  private noSnapshot (): undefined {
    if (this.head.snapshotSeq !== 0) {
      throw new IncompleteStateError(`the snapshot record is missing; the head says batch ${this.head.snapshotSeq} installed one`, { key: 'snapshot' })
    }
    return undefined
  }

  private decodeSnapshotHead (value: Uint8Array): SnapshotHead {
    const key = 'snapshot'
    const opened = openRecord(SNAPSHOT_KEY, value, 'snapshot', key)
    if (opened.seq !== this.head.snapshotSeq) {
      throw new IncompleteStateError(`snapshot record written by batch ${opened.seq}, the head says ${this.head.snapshotSeq === 0 ? 'there is none' : `batch ${this.head.snapshotSeq}`}`, { key })
    }
    const record = decodeSnapshotRecord(opened.body, key)
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
    return { meta, pieceBytes: record.pieceBytes, pieceCount: record.pieceCount }
  }

  private async readSnapshotHead (): Promise<SnapshotHead | undefined> {
    if (this.snapshotHead !== undefined) return this.snapshotHead.head
    let bytes: Uint8Array | undefined
    try {
      bytes = await this.db.get(SNAPSHOT_KEY)
    } catch (err) {
      throw readError('snapshot', err)
    }
    const head = bytes === undefined ? this.noSnapshot() : this.decodeSnapshotHead(bytes)
    this.snapshotHead = { head }
    return head
  }
}

/**
 * The `DurableState` invariant: every slot in (snapshotIndex, commitIndex] has an entry. Counted,
 * not walked, so a commit index of 2^53 − 1 costs no more than the log's size.
 */
function checkCommitted (commitIndex: Slot, snapshotIndex: Slot, digest: LogDigest): void {
  if (commitIndex < snapshotIndex) {
    throw new IncompleteStateError(`commit index ${commitIndex} is below the snapshot's index ${snapshotIndex}`, { key: 'meta' })
  }
  let present = 0
  for (const slot of digest.slotsAbove(snapshotIndex)) if (slot <= commitIndex) present++
  if (present === commitIndex - snapshotIndex) return
  let missing = snapshotIndex + 1
  while (digest.get(missing) !== undefined) missing++
  throw new IncompleteStateError(`committed slot ${missing} is missing (commit index ${commitIndex}, snapshot index ${snapshotIndex})`, { key: `log/${missing}` })
}

/** The format, head and meta records, verified against each other; undefined for an empty database. */
async function readStart (db: Db): Promise<StartState | undefined> {
  const get = async (key: Uint8Array): Promise<Uint8Array | undefined> => {
    try {
      return await db.get(key)
    } catch (err) {
      throw readError(describeKey(key), err)
    }
  }
  const formatBytes = await get(FORMAT_KEY)
  if (formatBytes === undefined) {
    let any: Uint8Array[]
    try {
      any = await db.keys({ limit: 1 }).all()
    } catch (err) {
      throw readError('the database', err)
    }
    if (any.length === 0) return undefined
    const meta = await get(META_KEY)
    if (meta !== undefined && meta[0] === 1 && meta[1] === META_KEY[0]) {
      throw new UnsupportedFormatError(1, 'the database was written by an earlier vpeer (records without checksums); there is no migration', { key: 'meta' })
    }
    throw new IncompleteStateError('the format record is missing, but the database holds other records', { key: 'format' })
  }
  const formatRecord = openRecord(FORMAT_KEY, formatBytes, 'format record', 'format')
  const format = decodeFormatRecord(formatRecord.body, 'format')
  if (format.storageFormat !== STORAGE_FORMAT_VERSION) {
    throw new UnsupportedFormatError(format.storageFormat, `this build reads storage format ${STORAGE_FORMAT_VERSION}`, { key: 'format' })
  }
  if (formatRecord.seq !== 0) throw new IncompleteStateError(`format record written by batch ${formatRecord.seq}, expected 0`, { key: 'format' })
  const headBytes = await get(HEAD_KEY)
  if (headBytes === undefined) throw new IncompleteStateError('the head record is missing', { key: 'head' })
  const headRecord = openRecord(HEAD_KEY, headBytes, 'head record', 'head')
  const head: Head = { seq: headRecord.seq, ...decodeHeadRecord(headRecord.body, 'head') }
  const metaBytes = await get(META_KEY)
  if (metaBytes === undefined) throw new IncompleteStateError(`the meta record is missing; the head says batch ${head.metaSeq} wrote it`, { key: 'meta' })
  const metaRecord = openRecord(META_KEY, metaBytes, 'meta', 'meta')
  if (metaRecord.seq !== head.metaSeq) {
    throw new IncompleteStateError(`meta record written by batch ${metaRecord.seq}, the head says batch ${head.metaSeq}`, { key: 'meta' })
  }
  if (head.metaSeq > head.seq || head.snapshotSeq > head.seq) {
    throw new IncompleteStateError(`the head (batch ${head.seq}) names a later batch`, { key: 'head' })
  }
  return { dbId: format.dbId, head, meta: decodeMeta(metaRecord.body, 'meta') }
}

/**
 * Batch 0 of a new database: format, meta (nothing promised, nothing committed) and head, then
 * the witness. A crash in between leaves a database at batch 0 with no witness, which the next
 * open completes (nothing was acknowledged yet).
 */
async function initialize (db: Db, path: string): Promise<{ start: StartState, witness: Witness }> {
  const dbId = Uint8Array.from(randomBytes(ID_BYTES))
  const meta: MetaRecord = { promised: BOTTOM_BALLOT, commitIndex: 0 }
  const head: Head = { seq: 0, prevChain: new Uint8Array(ID_BYTES), chain: chainOrigin(dbId), metaSeq: 0, snapshotSeq: 0, logCount: 0, logSum: 0 }
  const ops: Op[] = [
    { type: 'put', key: FORMAT_KEY, value: sealRecord(FORMAT_KEY, 0, encodeFormatRecord({ storageFormat: STORAGE_FORMAT_VERSION, dbId })) },
    { type: 'put', key: META_KEY, value: sealRecord(META_KEY, 0, encodeMeta(meta)) },
    { type: 'put', key: HEAD_KEY, value: sealRecord(HEAD_KEY, 0, encodeHeadRecord(head)) }
  ]
  try {
    await db.batch(ops, { sync: true })
  } catch (err) {
    throw new StorageWriteError(err, `LevelDB batch failed: ${describeCause(rootCause(err))}`)
  }
  const witness = await fsStep(path, 'create the witness', async () => {
    await removeWitnessLeftovers(path)
    return await Witness.create(path, { dbId, seq: 0, chain: head.chain })
  })
  return { start: { dbId, head, meta }, witness }
}

/**
 * The database must be at the witness's batch, or one after it (a crash between the batch's
 * fsync and the witness's); then the witness is brought up to date. Anything else is refused.
 */
async function reconcileWitness (path: string, start: StartState, witnessed: Awaited<ReturnType<typeof Witness.read>>): Promise<Witness> {
  const head = start.head
  if (witnessed === undefined) {
    if (head.seq !== 0) {
      throw new WitnessMismatchError(`the witness file is missing, but the database holds batches up to ${head.seq}`, { key: WITNESS_FILE })
    }
    // A crash between creating the database and its witness: nothing was acknowledged yet.
    return await fsStep(path, 'create the witness', async () => {
      await removeWitnessLeftovers(path)
      return await Witness.create(path, { dbId: start.dbId, seq: 0, chain: head.chain })
    })
  }
  const record = witnessed.record
  if (record === undefined) throw new WitnessMismatchError('both copies of the witness are damaged', { key: WITNESS_FILE })
  if (!sameBytes(record.dbId, start.dbId)) {
    throw new WitnessMismatchError(`the witness belongs to database ${hex(record.dbId)}, this is ${hex(start.dbId)}`, { key: WITNESS_FILE })
  }
  if (head.seq < record.seq) {
    throw new LostWritesError(head.seq, record.seq, `the database holds batches up to ${head.seq}, but batch ${record.seq} was acknowledged (the witness says so)`, { key: 'head' })
  }
  if (head.seq > record.seq + 1) {
    throw new WitnessMismatchError(`the database holds batch ${head.seq}, the witness only batch ${record.seq}: the witness is older than the database (copied from elsewhere?)`, { key: WITNESS_FILE })
  }
  const expected = head.seq === record.seq ? head.chain : head.prevChain
  if (!sameBytes(expected, record.chain)) {
    throw new WitnessMismatchError(`batch ${record.seq} has chain hash ${hex(expected)} in the database and ${hex(record.chain)} in the witness: two different histories`, { key: WITNESS_FILE })
  }
  return await fsStep(path, 'open the witness', async () => {
    const witness = await Witness.openExisting(path)
    if (head.seq !== record.seq) {
      try {
        await witness.write({ dbId: start.dbId, seq: head.seq, chain: head.chain })
      } catch (err) {
        await witness.close().catch(() => {})
        throw err
      }
    }
    return witness
  })
}

/** True for a well-formed piece key numbered below `count` (one the new snapshot overwrites). */
function isPieceBelow (key: Uint8Array, count: number): boolean {
  try {
    return pieceOfKey(key) < count
  } catch {
    return false
  }
}

async function exists (path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false
  }
}

/** Runs a file-system step of open, turning its failure into a typed error. */
async function fsStep<T> (path: string, what: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step()
  } catch (err) {
    if (err instanceof StorageError) throw err
    throw new StorageError(`Cannot ${what} in ${path}: ${describeCause(err)}`, 'ERR_STORAGE_OPEN', { cause: err })
  }
}

function readError (what: string, err: unknown): StorageError {
  if (err instanceof StorageError) return err
  const cause = rootCause(err)
  if (isCorruption(err)) {
    return new CorruptRecordError(what, `LevelDB reports corruption: ${describeCause(cause)}`, { cause: err })
  }
  return new StorageError(`Cannot read ${what} from LevelDB: ${describeCause(cause)}`, 'ERR_STORAGE_READ', { cause: err })
}

function isCorruption (err: unknown): boolean {
  for (let current = err, depth = 0; depth < 8 && current !== undefined; depth++) {
    if (hasCode(current, 'LEVEL_CORRUPTION')) return true
    current = current instanceof Error ? current.cause : undefined
  }
  return false
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
