/**
 * Chunk stores: `FsChunkStore` on a `FileSystem` (the node's disk), `MemoryChunkStore` for tests
 * and the simulator, and `collectGarbage` for both.
 *
 * `FsChunkStore` layout: `<dir>/<first 2 hex of id>/<other 62 hex>`, fanned out so no directory
 * holds more than ~1/256 of the chunks. A chunk is written to a temp file beside its final name
 * (`.vpeer-tmp-…`, same directory) and renamed over its name, so no reader ever sees a partly
 * written chunk under its id while the system runs.
 *
 * Durability is deliberately not paid per chunk: no fsync of the file or its directory (one
 * fsync per 16 KiB chunk cost 2.5–6 ms here, 16–37 s per 100 MiB, more than the whole transfer).
 * A fetched chunk needs none: every `get` re-hashes what it read, and a chunk that is missing or
 * damaged is fetched again from a peer. (A chunk put by the scanner for a local file is the
 * exception: if a power loss takes it, it is not put again until the scanner re-chunks that
 * file, and peers get `missing` from this node for it meanwhile.) After a power loss
 * a put that returned may therefore be gone, or its name may hold an empty or zero-filled file
 * (the rename reached the disk before the data); `get` then finds bytes that do not hash to the
 * id, deletes them and throws `CorruptChunkError`, and the caller refetches. Files are made
 * durable where it matters: landing fsyncs each assembled file before renaming it into place.
 * Temp files a crash left behind are removed by `ids()`.
 *
 * One process owns a store directory: `ids()` deletes temp files that are not its own in-flight
 * writes, which would break a second writer's puts.
 *
 * `has` answers from memory: the ids on disk are listed once (on first use) and kept in a set
 * that put, delete and get maintain (~120 bytes per chunk: 80 MB for a 10 GiB folder). A stat
 * per question was the node's largest CPU cost in a bulk transfer: every peer's `want` asks
 * about every id, and a miss threw an ENOENT error to be caught. A chunk file removed behind
 * the store's back is still "had" until a `get` finds it gone (MissingChunkError) and forgets
 * it; the caller then fetches it again, as for a damaged one.
 */
import { randomBytes } from 'node:crypto'
import { CHUNK_BYTES_MAX, checkChunkId as checkId, chunkIdOf, verifyChunk as verifyForPut } from './chunk.js'
import type { ChunkId, ChunkStore } from './chunk.js'
import { CorruptChunkError, DiskFullError, MissingChunkError } from './errors.js'
import { errorCode as codeOf, isDiskFull } from './fs.js'
import type { FileSystem, ReadableFile, WritableFile } from './fs.js'
import { throwIfAborted } from '../util/errors.js'

const TEMP_PREFIX = '.vpeer-tmp-'
const FANOUT = /^[0-9a-f]{2}$/
const REST = /^[0-9a-f]{62}$/

/** First read of a chunk file: the average FastCDC chunk (16 KiB) and most others fit in one read. */
const FIRST_READ_BYTES = 64 * 1024

/**
 * Reads a whole chunk file, up to one byte over `CHUNK_BYTES_MAX` (which tells an oversized, so
 * damaged, file from a maximal chunk). Starts small and doubles: allocating the 1 MiB limit for
 * every 16 KiB chunk made reads (landing, serving) allocation-bound.
 */
async function readWhole (file: ReadableFile): Promise<Uint8Array> {
  const limit = CHUNK_BYTES_MAX + 1
  const parts: Uint8Array[] = []
  let total = 0
  let want = FIRST_READ_BYTES
  for (;;) {
    const part = await file.read(total, Math.min(want, limit - total))
    parts.push(part)
    total += part.byteLength
    // A short read is the end of the file; so is reaching the limit (the caller sees the size).
    if (part.byteLength < want || total >= limit) break
    want = Math.min(want * 2, limit - total)
  }
  if (parts.length === 1) return parts[0] as Uint8Array
  const out = new Uint8Array(total)
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.byteLength }
  return out
}

/** A store that can tell a chunk's size without reading it (`collectGarbage` reports bytes freed). */
export interface SizedChunkStore extends ChunkStore {
  /** Bytes of the chunk, `undefined` if absent. */
  sizeOf (id: ChunkId): Promise<number | undefined>
}

export class FsChunkStore implements SizedChunkStore {
  /** Temp files of puts in flight: `ids()` must not clean them up under the writer. */
  private readonly inFlight = new Set<string>()
  /** Fan-out directories known to exist. */
  private readonly fanouts = new Set<string>()
  private readonly tempTag = randomBytes(6).toString('hex')
  private tempCounter = 0
  /** Ids on disk, once listed (see the header). */
  private present: Set<ChunkId> | undefined
  private listing: Promise<Set<ChunkId>> | undefined
  /** Removals while the listing runs, applied after it (puts wait for the listing). */
  private readonly removedDuringListing = new Set<ChunkId>()

  /** `dir` must exist (the store does not create the folder it lives in). */
  constructor (private readonly fs: FileSystem, private readonly dir: string) {}

  private pathOf (id: ChunkId): string {
    return `${this.dir}/${id.slice(0, 2)}/${id.slice(2)}`
  }

  async has (id: ChunkId): Promise<boolean> {
    checkId(id)
    return (this.present ?? await this.known()).has(id)
  }

  private async known (): Promise<Set<ChunkId>> {
    if (this.present !== undefined) return this.present
    this.listing ??= (async () => {
      const ids = new Set<ChunkId>()
      for await (const id of this.ids()) ids.add(id)
      for (const id of this.removedDuringListing) ids.delete(id)
      this.removedDuringListing.clear()
      this.present = ids
      return ids
    })()
    try {
      return await this.listing
    } catch (error) {
      // A listing that failed (an unreadable directory) is tried again by the next question.
      this.listing = undefined
      throw error
    }
  }

  private noted (id: ChunkId, stored: boolean): void {
    if (this.present === undefined) {
      if (!stored) this.removedDuringListing.add(id)
      return
    }
    if (stored) this.present.add(id)
    else this.present.delete(id)
  }

  async sizeOf (id: ChunkId): Promise<number | undefined> {
    checkId(id)
    const stat = await this.fs.stat(this.pathOf(id))
    return stat?.kind === 'file' ? stat.size : undefined
  }

  async get (id: ChunkId): Promise<Uint8Array> {
    checkId(id)
    const path = this.pathOf(id)
    let bytes: Uint8Array
    try {
      const file = await this.fs.openRead(path)
      try {
        bytes = await readWhole(file)
      } finally {
        await file.close()
      }
    } catch (error) {
      const code = codeOf(error)
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        this.noted(id, false)
        throw new MissingChunkError(id, { cause: error })
      }
      // Not a regular file where a chunk should be (a symlink, a directory): not a chunk either.
      if (code === 'ELOOP' || code === 'EISDIR') {
        this.noted(id, false)
        await this.fs.rmTree(path)
        throw new CorruptChunkError(`chunk ${id}: not a regular file on disk (${String(code)}); removed`, { cause: error })
      }
      throw error
    }
    const actual = bytes.length > CHUNK_BYTES_MAX ? 'an oversized file' : chunkIdOf(bytes)
    if (actual !== id) {
      this.noted(id, false)
      await this.removeQuietly(path)
      throw new CorruptChunkError(`chunk ${id} is damaged on disk (its ${bytes.length} bytes hash to ${actual}); removed`)
    }
    return bytes
  }

  async put (id: ChunkId, bytes: Uint8Array): Promise<void> {
    checkId(id)
    verifyForPut(id, bytes)
    const final = this.pathOf(id)
    if ((this.present ?? await this.known()).has(id)) return
    const fanout = `${this.dir}/${id.slice(0, 2)}`
    await this.ensureFanout(fanout)
    const temp = `${fanout}/${TEMP_PREFIX}${id.slice(2, 18)}-${this.tempTag}-${this.tempCounter++}`
    this.inFlight.add(temp)
    let file: WritableFile | undefined
    try {
      file = await this.fs.openWrite(temp, { exclusive: true, mode: 0o644 })
      await file.write(bytes)
      const closing = file
      file = undefined
      await closing.close()
      // Not fsynced (see the header): only atomic for readers; a crash may lose or zero it.
      await this.fs.rename(temp, final)
      this.noted(id, true)
    } catch (error) {
      if (file !== undefined) await file.close().catch(() => {})
      await this.removeQuietly(temp)
      if (isDiskFull(error)) throw new DiskFullError(`no space to store chunk ${id} (${bytes.length} bytes): ${String(codeOf(error))}`, { cause: error })
      throw error
    } finally {
      this.inFlight.delete(temp)
    }
  }

  async delete (id: ChunkId): Promise<void> {
    checkId(id)
    // Not synced: a crash may bring a deleted chunk back, which costs space until the next
    // collection, never correctness.
    this.noted(id, false)
    await this.removeQuietly(this.pathOf(id))
  }

  /** Every well-formed chunk name; removes temp files crashes left behind, ignores anything else. */
  async * ids (): AsyncGenerator<ChunkId> {
    let fanouts
    try {
      fanouts = await this.fs.readdir(this.dir)
    } catch (error) {
      if (codeOf(error) === 'ENOENT') return
      throw error
    }
    for (const fanout of fanouts) {
      if (fanout.kind !== 'directory' || !FANOUT.test(fanout.name)) continue
      const path = `${this.dir}/${fanout.name}`
      let entries
      try {
        entries = await this.fs.readdir(path)
      } catch (error) {
        if (codeOf(error) === 'ENOENT') continue // removed while we listed
        throw error
      }
      for (const entry of entries) {
        if (entry.kind === 'file' && REST.test(entry.name)) {
          yield fanout.name + entry.name
        } else if (entry.name.startsWith(TEMP_PREFIX) && !this.inFlight.has(`${path}/${entry.name}`)) {
          await this.removeQuietly(`${path}/${entry.name}`)
        }
      }
    }
  }

  private async ensureFanout (fanout: string): Promise<void> {
    if (this.fanouts.has(fanout)) return
    const stat = await this.fs.stat(fanout)
    if (stat?.kind !== 'directory') {
      try {
        await this.fs.mkdir(fanout)
      } catch (error) {
        if (codeOf(error) !== 'EEXIST') {
          if (isDiskFull(error)) throw new DiskFullError(`no space to create ${fanout}`, { cause: error })
          throw error
        }
      }
    }
    // Not synced either: a fan-out directory lost in a crash loses only chunks, which are refetched.
    this.fanouts.add(fanout)
  }

  private async removeQuietly (path: string): Promise<void> {
    try {
      await this.fs.unlink(path)
    } catch (error) {
      if (codeOf(error) !== 'ENOENT') throw error
    }
  }
}

export interface MemoryChunkStoreOptions {
  /** Bytes the store may hold; a put beyond fails with `DiskFullError` (default unlimited). */
  readonly capacityBytes?: number
}

/** Chunks in a map; verifies like `FsChunkStore`, and can damage a chunk for tests. */
export class MemoryChunkStore implements SizedChunkStore {
  private readonly chunks = new Map<ChunkId, Uint8Array>()
  private bytes = 0
  private readonly capacity: number

  constructor (options: MemoryChunkStoreOptions = {}) {
    this.capacity = options.capacityBytes ?? Number.POSITIVE_INFINITY
  }

  /** Bytes held. */
  get bytesStored (): number {
    return this.bytes
  }

  get size (): number {
    return this.chunks.size
  }

  async has (id: ChunkId): Promise<boolean> {
    checkId(id)
    return this.chunks.has(id)
  }

  async sizeOf (id: ChunkId): Promise<number | undefined> {
    checkId(id)
    return this.chunks.get(id)?.length
  }

  async get (id: ChunkId): Promise<Uint8Array> {
    checkId(id)
    const bytes = this.chunks.get(id)
    if (bytes === undefined) throw new MissingChunkError(id)
    const actual = chunkIdOf(bytes)
    if (actual !== id) {
      this.remove(id)
      throw new CorruptChunkError(`chunk ${id} is damaged (hashes to ${actual}); removed`)
    }
    return bytes.slice()
  }

  async put (id: ChunkId, bytes: Uint8Array): Promise<void> {
    checkId(id)
    verifyForPut(id, bytes)
    if (this.chunks.has(id)) return
    if (this.bytes + bytes.length > this.capacity) throw new DiskFullError(`no space to store chunk ${id} (${bytes.length} bytes, ${this.capacity - this.bytes} free)`)
    this.chunks.set(id, bytes.slice())
    this.bytes += bytes.length
  }

  async delete (id: ChunkId): Promise<void> {
    checkId(id)
    this.remove(id)
  }

  async * ids (): AsyncGenerator<ChunkId> {
    // A snapshot: deleting while iterating (garbage collection) is allowed.
    yield * [...this.chunks.keys()]
  }

  /** Test helper: flips one bit of the stored copy, as a bad disk sector would. */
  damage (id: ChunkId, byteIndex = 0): void {
    const bytes = this.chunks.get(id)
    if (bytes === undefined) throw new MissingChunkError(id)
    if (bytes.length === 0) {
      this.chunks.set(id, Uint8Array.of(0))
      this.bytes += 1
      return
    }
    bytes[byteIndex % bytes.length] = (bytes[byteIndex % bytes.length] as number) ^ 1
  }

  private remove (id: ChunkId): void {
    const bytes = this.chunks.get(id)
    if (bytes === undefined) return
    this.chunks.delete(id)
    this.bytes -= bytes.length
  }
}

export interface GarbageCollection {
  readonly kept: number
  readonly removed: number
  /** Bytes of the removed chunks (0 for a store that cannot tell sizes). */
  readonly bytesFreed: number
}

/**
 * Deletes every chunk `isReferenced` says no to. The caller's predicate must cover chunks in
 * flight (a transfer that stored chunks of a version the catalog does not list yet): a chunk
 * put while the collection runs is deleted if the predicate says no. Stops with `AbortError` on
 * `signal`; what was removed until then stays removed.
 */
export async function collectGarbage (store: ChunkStore | SizedChunkStore, isReferenced: (id: ChunkId) => boolean, options: { signal?: AbortSignal } = {}): Promise<GarbageCollection> {
  let kept = 0
  let removed = 0
  let bytesFreed = 0
  const sizeOf = 'sizeOf' in store ? store.sizeOf.bind(store) : undefined
  for await (const id of store.ids()) {
    throwIfAborted(options.signal)
    if (isReferenced(id)) {
      kept++
      continue
    }
    const size = sizeOf === undefined ? 0 : (await sizeOf(id)) ?? 0
    await store.delete(id)
    removed++
    bytesFreed += size
  }
  return { kept, removed, bytesFreed }
}
