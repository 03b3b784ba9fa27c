import { Level } from 'level'
import type { DurableState, LogEntry, PersistBatch, Slot } from '../paxos/types.ts'
import { BOTTOM_BALLOT } from '../paxos/types.ts'
import type { AbortOptions, Storage } from '../vpeer/interfaces.ts'
import { checkEntry } from './batch.ts'
import type { MetaRecord } from './codec.ts'
import { decodeLogEntry, decodeMeta, encodeLogEntry, encodeMeta } from './codec.ts'
import {
  AbortError,
  CorruptRecordError,
  describeCause,
  StorageClosedError,
  StorageError,
  StorageWriteError
} from './errors.ts'
import { describeKey, LOG_RANGE, logKey, META_KEY, slotOfLogKey } from './keys.ts'

export interface LevelStorageOptions {
  /** Create the folder's database if there is none. Default `true`. */
  createIfMissing?: boolean
  /** Fail if a database already exists there. Default `false`. */
  errorIfExists?: boolean
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
 */
export class LevelStorage implements Storage {
  /** Folder of the database. */
  readonly path: string
  private readonly db: Db
  // What the meta key holds, once read; updated only after a successful write.
  private meta: MetaRecord | undefined
  private tail: Promise<unknown> = Promise.resolve()
  private closing: Promise<void> | undefined

  private constructor (db: Db, path: string) {
    this.db = db
    this.path = path
  }

  /** Opens (by default creating) the database in folder `path`. */
  static async open (path: string, options: LevelStorageOptions = {}): Promise<LevelStorage> {
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
    return new LevelStorage(db, path)
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
      type Op = { type: 'put', key: Uint8Array, value: Uint8Array }
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
