/**
 * Landing: how a catalog version becomes a file on this disk, and how catalog deletes and renames
 * reach it, without ever destroying a local edit the catalog has not seen.
 *
 * A file is assembled from the chunk store into a temporary `.vpeer-tmp-<random>` next to its
 * target (same directory, so the rename is atomic), made durable, verified, and renamed over the
 * target only if the target is still exactly what the local index last saw (`expect`). A reader
 * sees the old file or the new one, never a torn mix; a crash leaves at most a temporary file,
 * which the scanner skips (reserved name) and `sweepTemporaries` removes.
 *
 * The precondition is checked right before the rename. POSIX has no compare-and-rename, so a
 * write that lands in the few microseconds between the check and the rename is lost; an edit in
 * progress any earlier (the usual case: a user saving while a large download runs) is kept.
 */
import { randomBytes } from 'node:crypto'
import { basename, dirname, join } from 'node:path'
import type { FileStat, FileSystem, WritableFile } from './fs.js'
import type { ChunkRef, ChunkStore } from './chunk.js'
import { CorruptChunkError, DiskFullError } from './errors.js'
import { diskFullOr, mkdirInside, parentOf, resolveInside } from './safe-path.js'
import { throwIfAborted } from '../util/errors.js'

/** Prefix of the temporary files landing writes (reserved: never replicated, never scanned). */
export const TEMP_PREFIX = '.vpeer-tmp-'

/** What the local index last saw at a path: nothing, or this exact file. */
export type Expectation =
  | { readonly kind: 'absent' }
  | { readonly kind: 'file', readonly size: number, readonly mtimeMs: number, readonly ctimeMs: number, readonly ino: number }

/** Why nothing was changed on disk. */
export type NotLandedReason =
  /** The file at the path is not what the local index saw: a local edit the scanner will report. */
  | 'local-change'
  /** A directory, symlink or special file sits at the path; it is never replaced. */
  | 'blocked'
  /**
   * A file with the same name up to case exists (a case-insensitive file system): writing would
   * replace a different catalog path's file.
   */
  | 'case-collision'

export type LandResult =
  | { readonly landed: true, readonly stat: FileStat }
  | { readonly landed: false, readonly reason: NotLandedReason, readonly stat?: FileStat }

export interface LandEntry {
  readonly size: number
  readonly mode: number
  readonly mtimeMs: number
  readonly chunks: readonly ChunkRef[]
  readonly rootHash: string
}

export interface LandOptions {
  readonly fs: FileSystem
  readonly store: ChunkStore
  /** Absolute path of the replicated folder. */
  readonly root: string
  /** Catalog path. */
  readonly path: string
  readonly entry: LandEntry
  readonly expect: Expectation
  readonly signal?: AbortSignal
}

/** Whether `stat` (an `lstat`, `undefined` if absent) is what `expect` describes. */
export function matchesExpectation (stat: FileStat | undefined, expect: Expectation): boolean {
  if (expect.kind === 'absent') return stat === undefined
  return stat !== undefined && stat.kind === 'file' && stat.size === expect.size &&
    stat.mtimeMs === expect.mtimeMs && stat.ctimeMs === expect.ctimeMs && stat.ino === expect.ino
}

/** The expectation that a file is exactly as `stat` saw it. */
export function expectationOf (stat: Pick<FileStat, 'size' | 'mtimeMs' | 'ctimeMs' | 'ino'> | undefined): Expectation {
  return stat === undefined ? { kind: 'absent' } : { kind: 'file', size: stat.size, mtimeMs: stat.mtimeMs, ctimeMs: stat.ctimeMs, ino: stat.ino }
}

/**
 * Why `stat` at `abs` fails `expect`. On a case-insensitive file system `lstat("A")` finds `a`;
 * that is a different catalog path, told apart by listing the directory for the exact name.
 */
async function refusal (fs: FileSystem, abs: string, stat: FileStat, expect: Expectation): Promise<NotLandedReason> {
  if (stat.kind !== 'file') return 'blocked'
  if (expect.kind === 'absent') {
    const names = await fs.readdir(dirname(abs)).catch(() => undefined)
    if (names !== undefined && !names.some(e => e.name === basename(abs))) return 'case-collision'
  }
  return 'local-change'
}

function tempName (): string {
  return TEMP_PREFIX + randomBytes(8).toString('hex')
}

async function bestEffort (work: () => Promise<unknown>): Promise<void> {
  try { await work() } catch { /* cleanup of something already failed; the sweep finds leftovers */ }
}

/**
 * Writes catalog version `entry` at `path`, if the file there is still `expect`. Returns the new
 * `lstat` (record it in the local index) or why nothing changed. Throws `UnsafePathError` (a path
 * that leaves the folder, nothing written), `MissingChunkError` / `CorruptChunkError` (a chunk
 * absent or damaged), `DiskFullError`, `AbortError`; in every case the temporary file is removed
 * and the target untouched.
 */
export async function landFile (options: LandOptions): Promise<LandResult> {
  const { fs, store, root, path, entry, expect, signal } = options
  const abs = await resolveInside(fs, root, path)
  const total = entry.chunks.reduce((sum, c) => sum + c.size, 0)
  if (total !== entry.size) throw new CorruptChunkError(`entry for ${JSON.stringify(path)}: chunks add up to ${total} bytes, not ${entry.size}`)
  // Checked before the download as well as after: no point assembling a file that cannot land.
  const before = await fs.stat(abs)
  if (!matchesExpectation(before, expect)) return { landed: false, reason: await refusal(fs, abs, before!, expect), stat: before }
  throwIfAborted(signal)

  const dir = await mkdirInside(fs, root, parentOf(path))
  const temp = join(dir, tempName())
  let file: WritableFile | undefined
  let renamed = false
  try {
    // Owner read/write always: a file this node cannot read back it cannot scan or serve.
    file = await fs.openWrite(temp, { exclusive: true, mode: (entry.mode & 0o777) | 0o600 })
    await assemble(file, store, entry.chunks, signal)
    await file.sync()
    await file.close()
    file = undefined
    await fs.utimes(temp, entry.mtimeMs, entry.mtimeMs)
    const written = await fs.stat(temp)
    if (written?.kind !== 'file' || written.size !== entry.size) {
      throw new CorruptChunkError(`assembled ${JSON.stringify(path)} has ${written?.size ?? 'no'} bytes, not ${entry.size}`)
    }
    throwIfAborted(signal)
    const now = await fs.stat(abs)
    if (!matchesExpectation(now, expect)) {
      return { landed: false, reason: await refusal(fs, abs, now!, expect), stat: now }
    }
    await fs.rename(temp, abs)
    renamed = true
    await fs.syncDir(dir)
  } catch (error) {
    throw diskFullOr(error, `writing ${JSON.stringify(path)}`)
  } finally {
    if (file !== undefined) await bestEffort(async () => await file!.close())
    if (!renamed) await bestEffort(async () => await fs.unlink(temp))
  }
  const stat = await fs.stat(abs)
  if (stat === undefined) throw new DiskFullError(`landed ${JSON.stringify(path)} vanished right after the rename`)
  return { landed: true, stat }
}

/** Chunk reads kept in flight while assembling (a read is an open, a read and a close). */
const READ_AHEAD = 16
/** Chunks are written in runs of about this many bytes (one write per 16 KiB chunk was ~64 calls per MiB). */
const WRITE_RUN_BYTES = 1024 * 1024

/**
 * Writes `chunks` from the store to `file`, in order. Reads run ahead of the writes (a window of
 * `READ_AHEAD`) and are written in runs. Each chunk is hashed once, by `store.get` (the
 * `ChunkStore` contract: it throws `CorruptChunkError` for bytes that do not match the id); its
 * size is checked here against the ref, and the assembled size against the entry by the caller.
 */
async function assemble (file: WritableFile, store: ChunkStore, chunks: readonly ChunkRef[], signal: AbortSignal | undefined): Promise<void> {
  const window: Array<Promise<Uint8Array>> = []
  let next = 0
  const fill = (): void => {
    while (next < chunks.length && window.length < READ_AHEAD) {
      const read = store.get((chunks[next++] as ChunkRef).id)
      // Awaited in order below; a failure of a later read while an earlier one is awaited must not be reported as unhandled.
      read.catch(() => {})
      window.push(read)
    }
  }
  let run: Uint8Array[] = []
  let runBytes = 0
  const flush = async (): Promise<void> => {
    if (runBytes === 0) return
    const bytes = run.length === 1 ? run[0] as Uint8Array : Buffer.concat(run, runBytes)
    run = []
    runBytes = 0
    await file.write(bytes)
  }
  for (const ref of chunks) {
    throwIfAborted(signal)
    fill()
    const bytes = await (window.shift() as Promise<Uint8Array>)
    if (bytes.length !== ref.size) throw new CorruptChunkError(`chunk ${ref.id} from the store has ${bytes.length} bytes, not ${ref.size}`)
    run.push(bytes)
    runBytes += bytes.length
    if (runBytes >= WRITE_RUN_BYTES) await flush()
  }
  await flush()
}

export type RemoveResult =
  | { readonly removed: true }
  | { readonly removed: false, readonly reason: NotLandedReason, readonly stat?: FileStat }

/**
 * Deletes the file at `path` if it is still `expect` (a locally modified file is kept: the
 * scanner reports the edit, which re-creates it in the catalog). Already absent counts as
 * removed. Then removes directories the delete left empty, up to the root (`pruneEmptyParents`,
 * default true; a directory holding anything, ignored files included, stays).
 */
export async function removeFile (options: {
  readonly fs: FileSystem
  readonly root: string
  readonly path: string
  readonly expect: Expectation
  readonly pruneEmptyParents?: boolean
}): Promise<RemoveResult> {
  const { fs, root, path, expect } = options
  let abs: string
  try {
    abs = await resolveInside(fs, root, path)
  } catch (error) {
    // An ancestor that is now a symlink or a file: the catalog's file cannot be here any more.
    if ((error as { code?: unknown }).code === 'ERR_UNSAFE_PATH' && expect.kind !== 'absent') {
      return { removed: false, reason: 'blocked' }
    }
    throw error
  }
  const stat = await fs.stat(abs)
  if (stat === undefined) return { removed: true }
  if (expect.kind === 'absent' || !matchesExpectation(stat, expect)) {
    return { removed: false, reason: await refusal(fs, abs, stat, expect), stat }
  }
  await fs.unlink(abs)
  const parent = parentOf(path)
  await fs.syncDir(dirname(abs))
  if (options.pruneEmptyParents ?? true) await pruneEmpty(fs, root, parent)
  return { removed: true }
}

async function pruneEmpty (fs: FileSystem, root: string, relDir: string): Promise<void> {
  let dir = relDir
  while (dir !== '') {
    const abs = await resolveInside(fs, root, dir)
    try {
      await fs.rmdir(abs)
    } catch {
      return // not empty (ENOTEMPTY/EEXIST), or not ours to remove: stop climbing
    }
    dir = parentOf(dir)
  }
}

export type RenameResult =
  | { readonly renamed: true, readonly stat: FileStat }
  | { readonly renamed: false, readonly side: 'from' | 'to', readonly reason: NotLandedReason, readonly stat?: FileStat }

/**
 * Moves the file at `from` to `to` (a catalog rename), if `from` is still `expect` and `to` is
 * still `expectTo` (default: absent). Creates `to`'s directories; returns `to`'s new `lstat`
 * (a rename changes ctime). Source directories left empty are pruned.
 */
export async function renameFile (options: {
  readonly fs: FileSystem
  readonly root: string
  readonly from: string
  readonly to: string
  readonly expect: Expectation
  readonly expectTo?: Expectation
  readonly pruneEmptyParents?: boolean
}): Promise<RenameResult> {
  const { fs, root, from, to, expect } = options
  const expectTo = options.expectTo ?? { kind: 'absent' }
  const fromAbs = await resolveInside(fs, root, from)
  const toAbs = await resolveInside(fs, root, to)
  const fromStat = await fs.stat(fromAbs)
  if (!matchesExpectation(fromStat, expect) || fromStat === undefined) {
    return fromStat === undefined
      ? { renamed: false, side: 'from', reason: 'local-change' }
      : { renamed: false, side: 'from', reason: await refusal(fs, fromAbs, fromStat, expect), stat: fromStat }
  }
  const toDir = await mkdirInside(fs, root, parentOf(to))
  const toStat = await fs.stat(toAbs)
  if (!matchesExpectation(toStat, expectTo)) {
    // A rename that only changes case finds its own source under the new name: that is fine.
    const sameFile = toStat !== undefined && toStat.ino !== 0 && toStat.ino === fromStat.ino && expectTo.kind === 'absent'
    if (!sameFile) return { renamed: false, side: 'to', reason: await refusal(fs, toAbs, toStat!, expectTo), stat: toStat }
  }
  try {
    await fs.rename(fromAbs, toAbs)
    await fs.syncDir(toDir)
    const fromDir = dirname(fromAbs)
    if (fromDir !== toDir) await fs.syncDir(fromDir)
  } catch (error) {
    throw diskFullOr(error, `renaming ${JSON.stringify(from)}`)
  }
  if ((options.pruneEmptyParents ?? true) && parentOf(from) !== parentOf(to)) await pruneEmpty(fs, root, parentOf(from))
  const stat = await fs.stat(toAbs)
  if (stat === undefined) throw new DiskFullError(`renamed ${JSON.stringify(to)} vanished right after the rename`)
  return { renamed: true, stat }
}

/**
 * Removes temporary files a crash left behind, in every directory under `root` (skipping symlinks).
 * Call once at start-up, before landing anything. Returns how many it removed.
 */
export async function sweepTemporaries (fs: FileSystem, root: string): Promise<number> {
  let removed = 0
  const walk = async (dir: string): Promise<void> => {
    let entries
    try { entries = await fs.readdir(dir) } catch { return }
    for (const e of entries) {
      const abs = join(dir, e.name)
      if (e.kind === 'directory') await walk(abs)
      else if (e.kind === 'file' && e.name.startsWith(TEMP_PREFIX)) {
        await bestEffort(async () => { await fs.unlink(abs); removed++ })
      }
    }
  }
  await walk(root)
  return removed
}
