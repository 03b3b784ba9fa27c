/**
 * `PackChunkStore`: the node's chunk store as a few large append-only pack files instead of one
 * file per chunk. A file per chunk cost an open, a write, a close and a rename per put and an
 * open, a read and a close per get: with an asynchronous file call costing ~0.1 ms of CPU, that
 * was a receiver's largest cost in a bulk transfer (bench:sync S1), and 6,400 files per 100 MiB.
 * Here a put is part of one write that carries every chunk queued meanwhile, and a get is one
 * positional read on a pack kept open.
 *
 * ```
 *   <dir>/pack-0000000007.vpk   records: "VPKR" | length u32 BE | id (32 bytes) | bytes
 *   <dir>/pack-0000000007.idx   written when the pack is sealed (see indexCodec): where each record is
 * ```
 *
 * - **One writer.** One process owns the directory (as with `FsChunkStore`). It appends to one
 *   active pack, which it created; a pack is never reopened for writing (the `FileSystem`
 *   contract has no append), so each start begins a new one. At `packBytesMax` the active pack is
 *   sealed: closed and its index written (temp + rename).
 * - **Start.** Each pack's index is read; a pack without a valid one (the active pack of a process
 *   that died, or a seal cut short) is scanned record by record up to the first record that is
 *   not whole (a torn tail), and sealed then, so the next start reads an index.
 * - **Durability** is the same as `FsChunkStore`'s, deliberately: nothing is fsynced. A chunk lost
 *   or damaged by a power loss is found by `get`, which hashes what it read (a bad one is dropped
 *   and `CorruptChunkError` tells the caller to fetch it again), and by the start's scan, which
 *   stops at the first bad record.
 * - **A failed write** (disk full) leaves the active pack's tail unknown: the pack is sealed with
 *   the records written before, the batch fails (`DiskFullError` for ENOSPC/EDQUOT), and the next
 *   put starts a new pack.
 * - **Space.** `delete` only forgets a chunk; `compact` (after a garbage collection) rewrites each
 *   sealed pack whose live bytes fell under half, moving its live chunks to the active pack,
 *   which it fsyncs (with the directory) before it removes the old pack: the one exception to
 *   "no fsync", since a moved chunk may be the only copy of a local file's. A crash in between leaves a chunk in two packs, which is harmless; a chunk deleted
 *   but not yet compacted away is listed again after a restart, until the next collection.
 * - **Old layout.** Chunk files of `FsChunkStore` (`<dir>/<2 hex>/<62 hex>`) found at start are
 *   moved into packs (verified on the way), then their directories removed.
 *
 * `has`, `ids` and `sizeOf` answer from the in-memory index (~150 bytes per chunk).
 */
import { createHash } from 'node:crypto'
import { CHUNK_BYTES_MAX, checkChunkId as checkId, chunkIdOf, verifyChunk } from './chunk.js'
import type { ChunkId } from './chunk.js'
import { FsChunkStore } from './chunk-store.js'
import type { SizedChunkStore } from './chunk-store.js'
import { CorruptChunkError, DiskFullError, MissingChunkError } from './errors.js'
import { errorCode as codeOf, isDiskFull } from './fs.js'
import type { FileSystem, ReadableFile, WritableFile } from './fs.js'

export interface PackChunkStoreOptions {
  /** A pack is sealed once it holds this many bytes (default 64 MiB). */
  readonly packBytesMax?: number
  /** Bytes one write may carry (default 1 MiB; a larger chunk goes alone). */
  readonly writeBytesMax?: number
  /** Packs kept open for reading (default 32). */
  readonly openPacksMax?: number
  /** A sealed pack is rewritten once its live bytes fall under this share of its records (default 0.5). */
  readonly compactBelow?: number
}

interface Location {
  readonly pack: number
  /** Offset of the chunk's bytes (after the record header). */
  readonly offset: number
  readonly size: number
}

interface Pack {
  readonly seq: number
  /** Bytes of records in the pack (chunk bytes only, headers excluded), live or not. */
  stored: number
  /** Bytes of chunks the index still points to in this pack. */
  live: number
  sealed: boolean
}

interface Active {
  readonly seq: number
  readonly file: WritableFile
  /** Bytes written so far. */
  bytes: number
  /** Records written, for its index. */
  readonly entries: Array<{ id: ChunkId, offset: number, size: number }>
}

interface Queued {
  readonly id: ChunkId
  readonly bytes: Uint8Array
  /** A compaction's move: indexed only if the chunk is still where it was read (not deleted meanwhile). */
  readonly from?: Location
  resolve (): void
  reject (error: Error): void
}

const RECORD_MAGIC = 0x56504b52 // "VPKR"
const INDEX_MAGIC = 0x56504b49 // "VPKI"
const HEADER_BYTES = 4 + 4 + 32
const INDEX_ENTRY_BYTES = 32 + 8 + 4
const PACK_NAME = /^pack-(\d{10})\.vpk$/
const INDEX_NAME = /^pack-(\d{10})\.idx$/
const TEMP_PREFIX = '.vpeer-tmp-'
const FANOUT = /^[0-9a-f]{2}$/

const packName = (seq: number): string => `pack-${String(seq).padStart(10, '0')}.vpk`
const indexName = (seq: number): string => `pack-${String(seq).padStart(10, '0')}.idx`

/**
 * A sealed pack's index: magic | pack bytes u64 | count u32 | entries (id 32 | offset u64 |
 * size u32) | SHA-256 of everything before. Offsets are below 2^53 (u64 written as two u32).
 */
export const indexCodec = {
  encode (packBytes: number, entries: ReadonlyArray<{ id: ChunkId, offset: number, size: number }>): Uint8Array {
    const body = new Uint8Array(4 + 8 + 4 + entries.length * INDEX_ENTRY_BYTES)
    const view = new DataView(body.buffer)
    view.setUint32(0, INDEX_MAGIC)
    view.setUint32(4, Math.floor(packBytes / 2 ** 32))
    view.setUint32(8, packBytes >>> 0)
    view.setUint32(12, entries.length)
    let at = 16
    for (const e of entries) {
      body.set(Buffer.from(e.id, 'hex'), at)
      view.setUint32(at + 32, Math.floor(e.offset / 2 ** 32))
      view.setUint32(at + 36, e.offset >>> 0)
      view.setUint32(at + 40, e.size)
      at += INDEX_ENTRY_BYTES
    }
    const out = new Uint8Array(body.length + 32)
    out.set(body)
    out.set(createHash('sha256').update(body).digest(), body.length)
    return out
  },

  /** `undefined` for anything that is not a whole, intact index. */
  decode (bytes: Uint8Array): { packBytes: number, entries: Array<{ id: ChunkId, offset: number, size: number }> } | undefined {
    if (bytes.length < 16 + 32) return undefined
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    if (view.getUint32(0) !== INDEX_MAGIC) return undefined
    const count = view.getUint32(12)
    if (bytes.length !== 16 + count * INDEX_ENTRY_BYTES + 32) return undefined
    const body = bytes.subarray(0, bytes.length - 32)
    if (Buffer.compare(createHash('sha256').update(body).digest(), bytes.subarray(bytes.length - 32)) !== 0) return undefined
    const packBytes = view.getUint32(4) * 2 ** 32 + view.getUint32(8)
    const entries: Array<{ id: ChunkId, offset: number, size: number }> = []
    let at = 16
    for (let i = 0; i < count; i++) {
      const offset = view.getUint32(at + 32) * 2 ** 32 + view.getUint32(at + 36)
      const size = view.getUint32(at + 40)
      if (size > CHUNK_BYTES_MAX || offset + size > packBytes || !Number.isSafeInteger(offset)) return undefined
      entries.push({ id: Buffer.from(bytes.subarray(at, at + 32)).toString('hex'), offset, size })
      at += INDEX_ENTRY_BYTES
    }
    return { packBytes, entries }
  }
}

export class PackChunkStore implements SizedChunkStore {
  private readonly packBytesMax: number
  private readonly writeBytesMax: number
  private readonly openPacksMax: number
  private readonly compactBelow: number
  private readonly index = new Map<ChunkId, Location>()
  private readonly packs = new Map<number, Pack>()
  private nextSeq = 1
  private active: Active | undefined
  private loaded: Promise<void> | undefined
  private ready = false
  private readonly queue: Queued[] = []
  private writing = false
  /** Puts of one id in flight: a second put waits for the first. */
  private readonly pending = new Map<ChunkId, Promise<void>>()
  private readonly readers = new Map<number, { file: Promise<ReadableFile>, users: number }>()
  private tempCounter = 0
  /** Set while a compaction moves chunks: packs sealed meanwhile are fsynced (see `compact`). */
  private syncOnSeal = false

  /** `dir` must exist (the store does not create the folder it lives in). */
  constructor (private readonly fs: FileSystem, private readonly dir: string, options: PackChunkStoreOptions = {}) {
    this.packBytesMax = options.packBytesMax ?? 64 * 1024 * 1024
    this.writeBytesMax = options.writeBytesMax ?? 1024 * 1024
    this.openPacksMax = Math.max(1, options.openPacksMax ?? 32)
    this.compactBelow = options.compactBelow ?? 0.5
  }

  // ─── the ChunkStore contract ──────────────────────────────────────────────────────────

  async has (id: ChunkId): Promise<boolean> {
    checkId(id)
    if (!this.ready) await this.load()
    return this.index.has(id)
  }

  async sizeOf (id: ChunkId): Promise<number | undefined> {
    checkId(id)
    if (!this.ready) await this.load()
    return this.index.get(id)?.size
  }

  async get (id: ChunkId): Promise<Uint8Array> {
    checkId(id)
    if (!this.ready) await this.load()
    for (;;) {
      const at = this.index.get(id)
      if (at === undefined) throw new MissingChunkError(id)
      let bytes: Uint8Array
      try {
        bytes = await this.read(at)
      } catch (error) {
        // Moved by a compaction while we opened the old pack: read it where it is now.
        if (this.index.get(id) !== at) continue
        if (codeOf(error) === 'ENOENT') {
          this.forget(id, at)
          throw new MissingChunkError(id, { cause: error })
        }
        throw error
      }
      if (bytes.length !== at.size || chunkIdOf(bytes) !== id) {
        if (this.index.get(id) !== at) continue
        this.forget(id, at)
        throw new CorruptChunkError(`chunk ${id} is damaged on disk (${bytes.length} of ${at.size} bytes read, hash mismatch); dropped`)
      }
      return bytes
    }
  }

  async put (id: ChunkId, bytes: Uint8Array): Promise<void> {
    checkId(id)
    verifyChunk(id, bytes)
    if (!this.ready) await this.load()
    if (this.index.has(id)) return
    const running = this.pending.get(id)
    if (running !== undefined) { await running; return }
    const p = this.append(id, bytes)
    this.pending.set(id, p)
    try {
      await p
    } finally {
      this.pending.delete(id)
    }
  }

  async delete (id: ChunkId): Promise<void> {
    checkId(id)
    if (!this.ready) await this.load()
    const at = this.index.get(id)
    if (at !== undefined) this.forget(id, at)
  }

  async * ids (): AsyncGenerator<ChunkId> {
    if (!this.ready) await this.load()
    // A snapshot: deleting while iterating (garbage collection) is allowed.
    yield * [...this.index.keys()]
  }

  // ─── space ────────────────────────────────────────────────────────────────────────────

  /**
   * Rewrites every sealed pack whose live bytes fell under `compactBelow` of its records: its
   * live chunks are appended to the active pack, then it is removed. Returns the packs removed.
   */
  async compact (): Promise<{ packsRemoved: number, bytesFreed: number }> {
    if (!this.ready) await this.load()
    const candidates = [...this.packs.values()].filter(p => p.sealed && p.live < p.stored * this.compactBelow)
    if (candidates.length === 0) return { packsRemoved: 0, bytesFreed: 0 }
    const bytesFreed = candidates.reduce((sum, p) => sum + p.stored - p.live, 0)
    const seqs = new Set(candidates.map(p => p.seq))
    // The moved copies reach the disk before the old ones leave it: the only copy of a local
    // file's chunk may be among them (refetching covers the others, not that one).
    this.syncOnSeal = true
    try {
      for (const [id, at] of [...this.index].filter(([, at]) => seqs.has(at.pack))) {
        let bytes: Uint8Array
        try {
          bytes = await this.read(at)
        } catch {
          this.forget(id, at)
          continue
        }
        if (this.index.get(id) !== at) continue
        if (bytes.length !== at.size || chunkIdOf(bytes) !== id) { this.forget(id, at); continue }
        await this.append(id, bytes, at)
      }
      await this.seal()
      await this.fs.syncDir(this.dir)
    } finally {
      this.syncOnSeal = false
    }
    for (const pack of candidates) {
      await this.closeReader(pack.seq)
      await this.removeQuietly(`${this.dir}/${indexName(pack.seq)}`)
      await this.removeQuietly(`${this.dir}/${packName(pack.seq)}`)
      this.packs.delete(pack.seq)
    }
    return { packsRemoved: candidates.length, bytesFreed }
  }

  /** Seals the active pack and closes every file (the store may be used again: it reopens). */
  async close (): Promise<void> {
    while (this.writing || this.queue.length > 0) await new Promise(resolve => setTimeout(resolve, 1))
    await this.seal()
    for (const seq of [...this.readers.keys()]) await this.closeReader(seq)
  }

  /** Packs on disk and the bytes they hold, live or not (for status and tests). */
  stats (): { packs: number, chunks: number, storedBytes: number, liveBytes: number } {
    let storedBytes = 0
    let liveBytes = 0
    for (const p of this.packs.values()) { storedBytes += p.stored; liveBytes += p.live }
    return { packs: this.packs.size, chunks: this.index.size, storedBytes, liveBytes }
  }

  // ─── start ────────────────────────────────────────────────────────────────────────────

  private async load (): Promise<void> {
    this.loaded ??= this.loadOnce().then(() => { this.ready = true }, (error: unknown) => {
      // An unreadable directory: the next call tries again.
      this.loaded = undefined
      throw error
    })
    await this.loaded
  }

  private async loadOnce (): Promise<void> {
    const entries = await this.fs.readdir(this.dir)
    const packs: number[] = []
    const indexes = new Set<number>()
    let legacy = false
    for (const e of entries) {
      const p = PACK_NAME.exec(e.name)
      const i = INDEX_NAME.exec(e.name)
      if (p !== null && e.kind === 'file') packs.push(Number(p[1]))
      else if (i !== null && e.kind === 'file') indexes.add(Number(i[1]))
      else if (e.name.startsWith(TEMP_PREFIX)) await this.removeQuietly(`${this.dir}/${e.name}`)
      else if (e.kind === 'directory' && FANOUT.test(e.name)) legacy = true
    }
    packs.sort((a, b) => a - b)
    for (const seq of packs) {
      const pack: Pack = { seq, stored: 0, live: 0, sealed: true }
      this.packs.set(seq, pack)
      const listed = indexes.has(seq) ? await this.readIndex(seq) : undefined
      const records = listed ?? await this.scan(seq)
      for (const r of records) {
        pack.stored += r.size
        const before = this.index.get(r.id)
        if (before !== undefined) this.forget(r.id, before)
        this.index.set(r.id, { pack: seq, offset: r.offset, size: r.size })
        pack.live += r.size
      }
      // Scanned: sealed now, so the next start reads its index.
      if (listed === undefined) await this.writeIndex(seq, records).catch(() => {})
    }
    for (const seq of indexes) if (!this.packs.has(seq)) await this.removeQuietly(`${this.dir}/${indexName(seq)}`)
    this.nextSeq = (packs.at(-1) ?? 0) + 1
    if (legacy) await this.migrate()
  }

  private async readIndex (seq: number): Promise<Array<{ id: ChunkId, offset: number, size: number }> | undefined> {
    const path = `${this.dir}/${indexName(seq)}`
    const packPath = `${this.dir}/${packName(seq)}`
    try {
      const stat = await this.fs.stat(path)
      const packStat = await this.fs.stat(packPath)
      if (stat === undefined || packStat === undefined || stat.size > 16 + 2 ** 32 * INDEX_ENTRY_BYTES) return undefined
      const file = await this.fs.openRead(path)
      let bytes: Uint8Array
      try {
        bytes = await file.read(0, stat.size)
      } finally {
        await file.close()
      }
      const decoded = indexCodec.decode(bytes)
      // An index that names more bytes than the pack has (the pack's data was lost): scan instead.
      if (decoded === undefined || decoded.packBytes > packStat.size) return undefined
      return decoded.entries
    } catch {
      return undefined
    }
  }

  /** The records of a pack up to the first that is not whole. */
  private async scan (seq: number): Promise<Array<{ id: ChunkId, offset: number, size: number }>> {
    const path = `${this.dir}/${packName(seq)}`
    const out: Array<{ id: ChunkId, offset: number, size: number }> = []
    const stat = await this.fs.stat(path)
    if (stat === undefined) return out
    const file = await this.fs.openRead(path)
    try {
      let at = 0
      while (at + HEADER_BYTES <= stat.size) {
        const header = await file.read(at, HEADER_BYTES)
        if (header.length < HEADER_BYTES) break
        const view = new DataView(header.buffer, header.byteOffset, header.byteLength)
        const size = view.getUint32(4)
        if (view.getUint32(0) !== RECORD_MAGIC || size > CHUNK_BYTES_MAX || at + HEADER_BYTES + size > stat.size) break
        out.push({ id: Buffer.from(header.subarray(8, 40)).toString('hex'), offset: at + HEADER_BYTES, size })
        at += HEADER_BYTES + size
      }
    } finally {
      await file.close()
    }
    return out
  }

  /** Chunk files of the per-file layout (`FsChunkStore`), moved into packs. */
  private async migrate (): Promise<void> {
    const old = new FsChunkStore(this.fs, this.dir)
    for await (const id of old.ids()) {
      let bytes: Uint8Array
      try {
        bytes = await old.get(id)
      } catch {
        continue // damaged or gone: dropped, fetched again when needed
      }
      if (!this.index.has(id)) await this.append(id, bytes)
      await old.delete(id)
    }
    for (const e of await this.fs.readdir(this.dir)) {
      if (e.kind === 'directory' && FANOUT.test(e.name)) await this.fs.rmdir(`${this.dir}/${e.name}`).catch(() => {})
    }
  }

  // ─── writing ──────────────────────────────────────────────────────────────────────────

  /** Queues a record; resolves once it is written and indexed. `from`: see `Queued`. */
  private async append (id: ChunkId, bytes: Uint8Array, from?: Location): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.queue.push({ id, bytes, ...(from !== undefined ? { from } : {}), resolve, reject })
      if (!this.writing) {
        this.writing = true
        void this.drain()
      }
    })
  }

  /**
   * Writes the queue out, as many records per write as `writeBytesMax` allows. `writing` is
   * cleared in the same synchronous step that finds the queue empty, so a record queued right
   * after is never left waiting for a drain that already ended.
   */
  private async drain (): Promise<void> {
    for (;;) {
      if (this.queue.length === 0) {
        this.writing = false
        return
      }
      const batch: Queued[] = []
      let bytes = 0
      while (this.queue.length > 0 && (batch.length === 0 || bytes + HEADER_BYTES + (this.queue[0] as Queued).bytes.length <= this.writeBytesMax)) {
        const q = this.queue.shift() as Queued
        batch.push(q)
        bytes += HEADER_BYTES + q.bytes.length
      }
      try {
        await this.writeBatch(batch, bytes)
        for (const q of batch) q.resolve()
      } catch (error) {
        const failure = isDiskFull(error)
          ? new DiskFullError(`no space to store ${batch.length} chunk(s) (${bytes} bytes): ${String(codeOf(error))}`, { cause: error })
          : error instanceof Error ? error : new Error(String(error))
        for (const q of batch) q.reject(failure)
      }
    }
  }

  private async writeBatch (batch: readonly Queued[], total: number): Promise<void> {
    const active = this.active ?? await this.startPack()
    const buffer = new Uint8Array(total)
    const view = new DataView(buffer.buffer)
    const placed: Array<{ id: ChunkId, offset: number, size: number, from?: Location }> = []
    let at = 0
    for (const q of batch) {
      view.setUint32(at, RECORD_MAGIC)
      view.setUint32(at + 4, q.bytes.length)
      buffer.set(Buffer.from(q.id, 'hex'), at + 8)
      buffer.set(q.bytes, at + HEADER_BYTES)
      placed.push({ id: q.id, offset: active.bytes + at + HEADER_BYTES, size: q.bytes.length, ...(q.from !== undefined ? { from: q.from } : {}) })
      at += HEADER_BYTES + q.bytes.length
    }
    try {
      await active.file.write(buffer)
    } catch (error) {
      // The tail of the pack is unknown now: sealed with what was written before.
      await this.seal()
      throw error
    }
    active.bytes += total
    const pack = this.packs.get(active.seq) as Pack
    for (const p of placed) {
      active.entries.push({ id: p.id, offset: p.offset, size: p.size })
      pack.stored += p.size
      const before = this.index.get(p.id)
      if (p.from !== undefined && before !== p.from) continue
      if (before !== undefined) this.forget(p.id, before)
      this.index.set(p.id, { pack: active.seq, offset: p.offset, size: p.size })
      pack.live += p.size
    }
    if (active.bytes >= this.packBytesMax) await this.seal()
  }

  private async startPack (): Promise<Active> {
    const seq = this.nextSeq++
    let file: WritableFile
    try {
      file = await this.fs.openWrite(`${this.dir}/${packName(seq)}`, { exclusive: true, mode: 0o644 })
    } catch (error) {
      if (isDiskFull(error)) throw new DiskFullError(`no space to start a chunk pack: ${String(codeOf(error))}`, { cause: error })
      throw error
    }
    this.active = { seq, file, bytes: 0, entries: [] }
    this.packs.set(seq, { seq, stored: 0, live: 0, sealed: false })
    return this.active
  }

  /**
   * Closes the active pack and writes its index (a failure there only costs a scan at the next
   * start). During a compaction the pack is fsynced first, and a failure of that is thrown.
   */
  private async seal (): Promise<void> {
    const active = this.active
    if (active === undefined) return
    this.active = undefined
    const pack = this.packs.get(active.seq)
    if (pack !== undefined) pack.sealed = true
    try {
      if (this.syncOnSeal) await active.file.sync()
    } finally {
      await active.file.close().catch(() => {})
      await this.writeIndex(active.seq, active.entries).catch(() => {})
    }
  }

  private async writeIndex (seq: number, entries: ReadonlyArray<{ id: ChunkId, offset: number, size: number }>): Promise<void> {
    const packBytes = entries.reduce((end, e) => Math.max(end, e.offset + e.size), 0)
    const temp = `${this.dir}/${TEMP_PREFIX}${indexName(seq)}-${this.tempCounter++}`
    try {
      const file = await this.fs.openWrite(temp, { exclusive: true, mode: 0o644 })
      try {
        await file.write(indexCodec.encode(packBytes, entries))
      } finally {
        await file.close()
      }
      await this.fs.rename(temp, `${this.dir}/${indexName(seq)}`)
    } catch (error) {
      await this.removeQuietly(temp).catch(() => {})
      throw error
    }
  }

  // ─── reading ──────────────────────────────────────────────────────────────────────────

  private async read (at: Location): Promise<Uint8Array> {
    let entry = this.readers.get(at.pack)
    if (entry === undefined) {
      entry = { file: this.fs.openRead(`${this.dir}/${packName(at.pack)}`), users: 1 }
      this.readers.set(at.pack, entry)
      const opened = entry
      opened.file.catch(() => { if (this.readers.get(at.pack) === opened) this.readers.delete(at.pack) })
      await this.evictReaders()
    } else {
      // Most recently used last.
      entry.users++
      this.readers.delete(at.pack)
      this.readers.set(at.pack, entry)
    }
    try {
      const file = await entry.file
      return await file.read(at.offset, at.size)
    } finally {
      entry.users--
    }
  }

  private async evictReaders (): Promise<void> {
    for (const [seq, entry] of this.readers) {
      if (this.readers.size <= this.openPacksMax) return
      if (entry.users > 0) continue
      this.readers.delete(seq)
      await entry.file.then(async f => { await f.close() }, () => {})
    }
  }

  private async closeReader (seq: number): Promise<void> {
    const entry = this.readers.get(seq)
    if (entry === undefined) return
    this.readers.delete(seq)
    while (entry.users > 0) await new Promise(resolve => setTimeout(resolve, 1))
    await entry.file.then(async f => { await f.close() }, () => {})
  }

  private forget (id: ChunkId, at: Location): void {
    if (this.index.get(id) === at) this.index.delete(id)
    const pack = this.packs.get(at.pack)
    if (pack !== undefined) pack.live -= at.size
  }

  private async removeQuietly (path: string): Promise<void> {
    try {
      await this.fs.unlink(path)
    } catch (error) {
      if (codeOf(error) !== 'ENOENT') throw error
    }
  }
}
