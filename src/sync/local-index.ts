/**
 * The local index: what this node knows of its own copy of the folder, per path the `lstat` it
 * last saw (size, mtime, ctime, inode, mode), the content it had then (chunks, root hash) and the
 * catalog version that content corresponds to (0: not yet in the catalog). The scanner compares
 * the disk with it; landing takes its preconditions from it.
 *
 * It is a cache of facts the node can recompute, never the only copy of anything: lose it and a
 * rescan rehashes every file, the caller matches each one's root hash with the catalog, and only
 * files that really differ become catalog changes. So load is strict (a damaged index is never
 * half-trusted) and the caller picks what happens on damage: `onCorrupt: 'throw'` (the default,
 * a typed `LocalIndexCorruptError`) or `'rebuild'` (start empty, move the damaged file aside, and
 * say so in `recovered`: the replica uses this, the rescan rebuilds it).
 *
 * Persistence is a snapshot plus an append-only journal, so that saving costs what changed, not
 * the whole index (100,000 entries are megabytes):
 *
 * - `index.snapshot`: a header line, one JSON line per entry, and a trailer with the count and the
 *   SHA-256 of everything before it. Written to a temporary file, fsync'd, renamed, directory
 *   fsync'd: it is the old snapshot or the new one.
 * - `index.journal.<generation>`: one line per change (`set` or `del`), each with its own checksum,
 *   appended and fsync'd in batches by `flush` (many changes, one fsync). A crash can tear the last
 *   line only: a bad last line is dropped, a bad line before a good one is damage.
 * - When the journal outgrows the snapshot (and a floor), `flush` compacts: a new snapshot of
 *   generation g+1 and a fresh journal g+1; the old journal is deleted. Each compaction writes S
 *   bytes after at least S bytes of journal: constant amortized cost per change. A journal whose
 *   generation is not the snapshot's is a leftover of a compaction a crash interrupted: deleted.
 *
 * The FileSystem contract has no append mode (`openWrite` truncates), so a journal is only ever
 * written by the process that created it; `open` compacts a non-empty journal before writing.
 */
import { createHash } from 'node:crypto'
import { dirname, join } from 'node:path'
import type { FileSystem, WritableFile } from './fs.js'
import { CHUNK_BYTES_MAX, isChunkId } from './chunk.js'
import type { ChunkRef } from './chunk.js'
import { SyncError } from './errors.js'
import { isCatalogPath } from './paths.js'
import { diskFullOr } from './safe-path.js'
import type { CodedErrorOptions } from '../util/errors.js'

export interface LocalEntry {
  /** Catalog path. */
  readonly path: string
  readonly size: number
  readonly mtimeMs: number
  readonly ctimeMs: number
  readonly ino: number
  /** Permission bits. */
  readonly mode: number
  readonly chunks: readonly ChunkRef[]
  readonly rootHash: string
  /**
   * The catalog version this content is (> 0); 0 if not yet in the catalog; -1 (superseded) if the
   * catalog keeps this content elsewhere (a conflict copy), so the catalog's own version may
   * replace the file; -2 (refused) if the catalog refused it (a path it cannot hold).
   */
  readonly version: number
  /**
   * The stat was taken too close to the file's last change to trust it on a file system with
   * coarse timestamps: the next scan rehashes it even if the stat matches (see scanner.ts).
   */
  readonly racy: boolean
}

/** The index on disk is damaged (or of a format this code does not read). */
export class LocalIndexCorruptError extends SyncError {
  static override name = 'LocalIndexCorruptError'
  readonly file: string
  constructor (file: string, message: string, options?: CodedErrorOptions) {
    super(`local index ${file}: ${message}`, 'ERR_LOCAL_INDEX_CORRUPT', options)
    this.file = file
  }
}

export interface LocalIndexOptions {
  /** What a damaged index does: throw `LocalIndexCorruptError` (default) or start empty. */
  readonly onCorrupt?: 'throw' | 'rebuild'
  /** The journal is compacted when it exceeds both the snapshot's size and this (bytes). */
  readonly compactMinBytes?: number
}

const SNAPSHOT = 'index.snapshot'
const JOURNAL = 'index.journal.'
const FORMAT = 'vpeer-local-index'
const FORMAT_VERSION = 1
const BLOCK = 1 << 20

const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder('utf-8', { fatal: true })

function sha256Hex (text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

function isCount (v: unknown, max = Number.MAX_SAFE_INTEGER): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max
}

/** The entry in `value`, checked field by field, or why not. */
function entryProblem (value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'not an object'
  const e = value as Record<string, unknown>
  if (!isCatalogPath(e.path)) return 'bad path'
  if (!isCount(e.size)) return 'bad size'
  if (typeof e.mtimeMs !== 'number' || !Number.isFinite(e.mtimeMs)) return 'bad mtimeMs'
  if (typeof e.ctimeMs !== 'number' || !Number.isFinite(e.ctimeMs)) return 'bad ctimeMs'
  if (!isCount(e.ino)) return 'bad ino'
  if (!isCount(e.mode, 0o7777)) return 'bad mode'
  if (typeof e.version !== 'number' || !Number.isSafeInteger(e.version) || e.version < -2) return 'bad version'
  if (typeof e.racy !== 'boolean') return 'bad racy'
  if (typeof e.rootHash !== 'string' || e.rootHash.length === 0 || e.rootHash.length > 256) return 'bad rootHash'
  if (!Array.isArray(e.chunks)) return 'bad chunks'
  let total = 0
  for (const c of e.chunks as unknown[]) {
    const ref = c as Record<string, unknown> | null
    if (typeof ref !== 'object' || ref === null || !isChunkId(ref.id) || !isCount(ref.size, CHUNK_BYTES_MAX)) return 'bad chunk'
    total += ref.size
  }
  if (total !== e.size) return 'chunks do not add up to size'
  return undefined
}

/** A fresh object with exactly the fields of an entry (no stray properties reach the disk). */
function canonical (e: LocalEntry): LocalEntry {
  return {
    path: e.path, size: e.size, mtimeMs: e.mtimeMs, ctimeMs: e.ctimeMs, ino: e.ino, mode: e.mode,
    chunks: e.chunks.map(c => ({ id: c.id, size: c.size })), rootHash: e.rootHash, version: e.version, racy: e.racy
  }
}

interface Line { readonly text: string, readonly terminated: boolean }

/** The lines of a file, read in blocks; the last one may lack its newline (a torn write). */
async function * linesOf (fs: FileSystem, path: string): AsyncGenerator<Line> {
  const file = await fs.openRead(path)
  try {
    let position = 0
    let carry = new Uint8Array(0)
    for (;;) {
      const block = await file.read(position, BLOCK)
      position += block.length
      const data = carry.length === 0 ? block : concat(carry, block)
      let start = 0
      for (let nl = data.indexOf(10, start); nl >= 0; nl = data.indexOf(10, start)) {
        yield { text: decode(data.subarray(start, nl)), terminated: true }
        start = nl + 1
      }
      carry = data.slice(start)
      if (block.length < BLOCK) break
    }
    if (carry.length > 0) yield { text: decode(carry, true), terminated: false }
  } finally {
    await file.close()
  }
}

function concat (a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

function decode (bytes: Uint8Array, lenient = false): string {
  try {
    return fromUtf8.decode(bytes)
  } catch (error) {
    if (lenient) return '\uFFFD' // a torn tail: rejected by its checksum
    throw error
  }
}

function parseJson (text: string): unknown {
  try { return JSON.parse(text) } catch { return undefined }
}

export class LocalIndex {
  /** Why the index was rebuilt empty at open (`onCorrupt: 'rebuild'`), else undefined. */
  recovered: string | undefined
  private readonly map = new Map<string, LocalEntry>()
  private generation = 0
  private snapshotBytes = 0
  private journalBytes = 0
  private journal: WritableFile | undefined
  private pending: string[] = []
  /** A journal write failed halfway: the journal may hold a torn line, so it is replaced. */
  private poisoned = false
  private chain: Promise<void> = Promise.resolve()
  private closed = false

  private constructor (
    private readonly fs: FileSystem,
    private readonly dir: string,
    private readonly compactMinBytes: number
  ) {}

  /** Loads the index kept in directory `dir` (created if absent). */
  static async open (fs: FileSystem, dir: string, options: LocalIndexOptions = {}): Promise<LocalIndex> {
    const index = new LocalIndex(fs, dir, options.compactMinBytes ?? 4 * 1024 * 1024)
    if ((await fs.stat(dir)) === undefined) {
      try {
        await fs.mkdir(dir, { recursive: true })
        // The directory itself must survive a crash, or every flush into it was for nothing.
        await fs.syncDir(dirname(dir))
      } catch (error) {
        throw diskFullOr(error, 'creating the local index directory')
      }
    }
    let replayed: boolean
    try {
      replayed = await index.load()
    } catch (error) {
      if (!(error instanceof LocalIndexCorruptError) || options.onCorrupt !== 'rebuild') throw error
      index.recovered = error.message
      index.map.clear()
      await index.quarantine()
      replayed = true
    }
    if (replayed) await index.compact()
    else await index.openJournal()
    return index
  }

  get size (): number { return this.map.size }
  get (path: string): LocalEntry | undefined { return this.map.get(path) }
  has (path: string): boolean { return this.map.has(path) }
  entries (): IterableIterator<LocalEntry> { return this.map.values() }
  paths (): IterableIterator<string> { return this.map.keys() }

  /** Records `entry` in memory; durable after the next `flush`. */
  set (entry: LocalEntry): void {
    this.assertOpen()
    const problem = entryProblem(entry)
    if (problem !== undefined) throw new SyncError(`local index entry ${JSON.stringify(entry.path)}: ${problem}`, 'ERR_INVALID_ARGUMENT')
    const copy = canonical(entry)
    this.map.set(copy.path, copy)
    this.pending.push(this.record({ set: copy }))
  }

  delete (path: string): void {
    this.assertOpen()
    if (!this.map.delete(path)) return
    this.pending.push(this.record({ del: path }))
  }

  /**
   * Makes every change so far durable: one append and one fsync for all of them (concurrent
   * callers share the work), and a compaction when the journal has grown past the snapshot.
   * `DiskFullError`; the changes stay in memory and the next flush retries.
   */
  async flush (): Promise<void> {
    this.assertOpen()
    const run = this.chain.then(async () => await this.flushNow())
    this.chain = run.catch(() => {})
    await run
  }

  /** Flushes and releases the journal. */
  async close (): Promise<void> {
    if (this.closed) return
    await this.flush()
    this.closed = true
    await this.journal?.close()
    this.journal = undefined
  }

  private assertOpen (): void {
    if (this.closed) throw new SyncError('the local index is closed', 'ERR_CLOSED')
  }

  private record (body: object): string {
    const json = JSON.stringify(body)
    return `${sha256Hex(json).slice(0, 16)} ${json}\n`
  }

  private async flushNow (): Promise<void> {
    if (this.poisoned || this.journal === undefined) {
      await this.compact()
      return
    }
    if (this.pending.length === 0) return
    const batch = this.pending
    this.pending = []
    const bytes = utf8.encode(batch.join(''))
    try {
      await this.journal.write(bytes)
      await this.journal.sync()
    } catch (error) {
      this.poisoned = true
      this.pending = batch.concat(this.pending)
      throw diskFullOr(error, 'saving the local index')
    }
    this.journalBytes += bytes.length
    if (this.journalBytes > Math.max(this.snapshotBytes, this.compactMinBytes)) await this.compact()
  }

  /** Writes the whole map as snapshot generation g+1 and starts journal g+1. */
  private async compact (): Promise<void> {
    const next = this.generation + 1
    const temp = join(this.dir, `${SNAPSHOT}.tmp`)
    const pendingAtStart = this.pending.length
    let bytes = 0
    try {
      const file = await this.fs.openWrite(temp)
      try {
        const hash = createHash('sha256')
        let buffer = ''
        const put = async (line: string, force = false): Promise<void> => {
          buffer += line
          if (buffer.length >= BLOCK || force) {
            const encoded = utf8.encode(buffer)
            hash.update(encoded)
            bytes += encoded.length
            await file.write(encoded)
            buffer = ''
          }
        }
        await put(JSON.stringify({ format: FORMAT, version: FORMAT_VERSION, generation: next }) + '\n')
        for (const entry of this.map.values()) await put(JSON.stringify(entry) + '\n')
        await put('', true)
        const trailer = JSON.stringify({ end: true, count: this.map.size, sha256: hash.digest('hex') }) + '\n'
        await file.write(utf8.encode(trailer))
        bytes += trailer.length
        await file.sync()
      } finally {
        await file.close()
      }
      await this.fs.rename(temp, join(this.dir, SNAPSHOT))
      await this.fs.syncDir(this.dir)
    } catch (error) {
      await this.fs.unlink(temp).catch(() => {})
      throw diskFullOr(error, 'saving the local index')
    }
    // The snapshot holds every change made before it started; later ones stay pending.
    this.pending = this.pending.slice(pendingAtStart)
    const old = this.generation
    this.generation = next
    this.snapshotBytes = bytes
    this.poisoned = false
    await this.journal?.close().catch(() => {})
    this.journal = undefined
    await this.fs.unlink(join(this.dir, JOURNAL + old)).catch(() => {})
    await this.openJournal()
  }

  private async openJournal (): Promise<void> {
    try {
      this.journal = await this.fs.openWrite(join(this.dir, JOURNAL + this.generation))
      await this.fs.syncDir(this.dir)
    } catch (error) {
      this.journal = undefined
      throw diskFullOr(error, 'starting the local index journal')
    }
    this.journalBytes = 0
  }

  /** Reads snapshot and journal; true if the journal held changes (so it must be compacted). */
  private async load (): Promise<boolean> {
    const snapshotPath = join(this.dir, SNAPSHOT)
    const snapshotStat = await this.fs.stat(snapshotPath)
    if (snapshotStat !== undefined) await this.loadSnapshot(snapshotPath)
    this.snapshotBytes = snapshotStat?.size ?? 0
    let replayed = false
    for (const e of await this.fs.readdir(this.dir)) {
      if (!e.name.startsWith(JOURNAL)) continue
      const path = join(this.dir, e.name)
      if (e.name === JOURNAL + this.generation && e.kind === 'file') replayed = await this.replay(path)
      else await this.fs.unlink(path).catch(() => {}) // a compaction's leftover
    }
    return replayed
  }

  private async loadSnapshot (path: string): Promise<void> {
    const hash = createHash('sha256')
    let header: Record<string, unknown> | undefined
    let trailer: Record<string, unknown> | undefined
    let count = 0
    try {
      for await (const line of linesOf(this.fs, path)) {
        if (trailer !== undefined) throw new LocalIndexCorruptError(path, 'data after the trailer')
        if (!line.terminated) throw new LocalIndexCorruptError(path, 'truncated')
        const value = parseJson(line.text) as Record<string, unknown> | undefined
        if (value === undefined || typeof value !== 'object' || value === null) throw new LocalIndexCorruptError(path, `line ${count + 2} is not JSON`)
        if (header === undefined) {
          if (value.format !== FORMAT || value.version !== FORMAT_VERSION || !isCount(value.generation)) {
            throw new LocalIndexCorruptError(path, 'not a local index of a known version')
          }
          header = value
        } else if (value.end === true) {
          trailer = value
          continue
        } else {
          const problem = entryProblem(value)
          if (problem !== undefined) throw new LocalIndexCorruptError(path, `entry ${count + 1}: ${problem}`)
          this.map.set((value as unknown as LocalEntry).path, canonical(value as unknown as LocalEntry))
          count++
        }
        hash.update(utf8.encode(line.text + '\n'))
      }
    } catch (error) {
      if (error instanceof LocalIndexCorruptError) throw error
      if ((error as { code?: unknown }).code === 'ERR_ENCODING_INVALID_ENCODED_DATA') throw new LocalIndexCorruptError(path, 'not UTF-8', { cause: error })
      throw error
    }
    if (header === undefined || trailer === undefined) throw new LocalIndexCorruptError(path, 'truncated')
    if (trailer.count !== count || this.map.size !== count) throw new LocalIndexCorruptError(path, 'entry count does not match')
    if (trailer.sha256 !== hash.digest('hex')) throw new LocalIndexCorruptError(path, 'checksum does not match')
    this.generation = header.generation as number
  }

  private async replay (path: string): Promise<boolean> {
    let torn: Line | undefined
    let any = false
    for await (const line of linesOf(this.fs, path)) {
      if (torn !== undefined) throw new LocalIndexCorruptError(path, 'a damaged record before the end')
      const body = this.checkRecord(line)
      if (body === undefined) { torn = line; continue }
      if (typeof body.del === 'string') this.map.delete(body.del)
      else if (entryProblem(body.set) === undefined) this.map.set((body.set as LocalEntry).path, canonical(body.set as LocalEntry))
      else throw new LocalIndexCorruptError(path, `a record that is neither set nor del: ${entryProblem(body.set) ?? ''}`)
      any = true
    }
    // A torn last record is a crash during an append, before its fsync returned: never promised.
    return any || torn !== undefined
  }

  private checkRecord (line: Line): Record<string, unknown> | undefined {
    if (!line.terminated || line.text.length < 18 || line.text[16] !== ' ') return undefined
    const json = line.text.slice(17)
    if (sha256Hex(json).slice(0, 16) !== line.text.slice(0, 16)) return undefined
    const value = parseJson(json)
    return typeof value === 'object' && value !== null ? value as Record<string, unknown> : undefined
  }

  /** Moves the damaged files aside (kept for a post-mortem, never read again). */
  private async quarantine (): Promise<void> {
    const stamp = Date.now()
    for (const e of await this.fs.readdir(this.dir)) {
      if (e.name === SNAPSHOT || e.name.startsWith(JOURNAL)) {
        await this.fs.rename(join(this.dir, e.name), join(this.dir, `${e.name}.corrupt-${stamp}`)).catch(() => {})
      }
    }
    this.generation = 0
    this.snapshotBytes = 0
  }
}
