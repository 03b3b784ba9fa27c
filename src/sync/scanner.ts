/**
 * The scanner: walks the folder, compares every file with the local index, and says what changed
 * locally (added, modified, deleted, renamed). Only files replicate; directories exist to hold
 * them. Never follows a symlink; skips `.vpeer*` names, ignored paths, special files, and names
 * some platform cannot store (reported, not fatal: one bad name must not stop a folder).
 *
 * Change detection trusts a file's `lstat` only when it proves nothing happened: size, mtime,
 * ctime and inode all as the index saw them. mtime alone misses a same-size rewrite whose writer
 * restores the mtime (or lands in the same timestamp tick); ctime cannot be set by a writer and an
 * atomic save (write a copy, rename it over) changes the inode. On a file system with coarse
 * timestamps (FAT: 2 s, some network file systems: 1 s) a write in the same tick as the stat leaves
 * every field unchanged; git's "racy" rule closes that: an entry whose mtime or ctime is within
 * `granularityMs` of the scan that recorded it is marked racy and rehashed on the next scan,
 * whatever its stat says (timestamps are compared with this host's clock: a network file system
 * with a skewed clock needs a larger granularity).
 *
 * The walk never deletes: it reports. A folder that cannot be read (unmounted disk) throws; it
 * never reads as "everything deleted", and nor does an unreadable subdirectory.
 */
import { join } from 'node:path'
import { errorCode as codeOf } from './fs.js'
import type { FileStat, FileSystem } from './fs.js'
import type { ChunkRef } from './chunk.js'
import { SyncError } from './errors.js'
import { catalogPathProblem } from './paths.js'
import { rootHashOf } from './catalog-types.js'
import type { IgnoreRules } from './ignore.js'
import { isReservedName } from './ignore.js'
import type { LocalEntry } from './local-index.js'
import { throwIfAborted } from '../util/errors.js'

export type ChunkFile = (absPath: string, signal?: AbortSignal) => Promise<{ chunks: ChunkRef[], size: number }>

/** Timestamp granularity of a file system that keeps whole seconds: FAT's 2 s, the coarsest common one. */
export const DEFAULT_GRANULARITY_MS = 2000

/**
 * Granularity assumed for a file whose mtime and ctime both carry fractions of a second: the file
 * system keeps fine timestamps, which the kernel takes from a clock that ticks at least every
 * 10 ms (Linux's coarse clock at HZ = 100; Windows' 15.6 ms timer; macOS finer), with room to
 * spare. A file system of whole seconds (FAT, HFS+, ext3, many network mounts) shows whole
 * seconds in both, and gets `DEFAULT_GRANULARITY_MS`.
 */
export const FINE_GRANULARITY_MS = 100

/**
 * The racy window for `stat`: `DEFAULT_GRANULARITY_MS` unless both its timestamps show fractions
 * of a second. Adaptive because the racy rule rehashes a file at every scan while its timestamps
 * are within the window: with 2 s everywhere, a file just landed was hashed again by every scan
 * of the next two seconds (four times at a 500 ms rescan), however fine the file system's clock.
 */
export function granularityOf (stat: Pick<FileStat, 'mtimeMs' | 'ctimeMs'>): number {
  const fraction = (ms: number): boolean => ms % 1000 !== 0
  return fraction(stat.mtimeMs) && fraction(stat.ctimeMs) ? FINE_GRANULARITY_MS : DEFAULT_GRANULARITY_MS
}

export interface ScanOptions {
  readonly fs: FileSystem
  /** Absolute path of the folder. */
  readonly root: string
  readonly index: { get: (path: string) => LocalEntry | undefined, entries: () => Iterable<LocalEntry> }
  readonly chunkFile: ChunkFile
  readonly ignore?: IgnoreRules
  /** The racy window, ms (default: per file, `granularityOf` its timestamps). */
  readonly granularityMs?: number
  /** Wall clock (ms), for the racy rule. */
  readonly now?: () => number
  readonly signal?: AbortSignal
}

/** A file as the scan hashed it: what the caller records in the local index. */
export interface ScannedFile {
  readonly path: string
  readonly stat: FileStat
  readonly chunks: ChunkRef[]
  readonly rootHash: string
  readonly racy: boolean
}

export interface ScanProblem {
  readonly path: string
  readonly reason: 'invalid-name' | 'not-a-regular-file' | 'unreadable' | 'changing'
  readonly detail: string
}

export interface ScanResult {
  readonly startedAtMs: number
  /** Files the index does not have. */
  readonly added: ScannedFile[]
  /** Files whose content or mode changed. */
  readonly modified: Array<ScannedFile & { readonly previous: LocalEntry }>
  /** Content and mode as indexed, stat not (touched, atomically re-saved, racy rehash): update the index only. */
  readonly touched: Array<ScannedFile & { readonly previous: LocalEntry }>
  /** Indexed files that are gone. */
  readonly deleted: LocalEntry[]
  /** A deleted file and an added one with the same content (size > 0) in the same scan. */
  readonly renamed: Array<ScannedFile & { readonly from: string, readonly previous: LocalEntry }>
  /** Indexed files that are now ignored: forget them locally, do not delete them from the catalog. */
  readonly ignored: LocalEntry[]
  readonly problems: ScanProblem[]
  /** Files whose stat matched the index (not rehashed). */
  readonly unchanged: number
}

function sameStat (stat: FileStat, entry: LocalEntry): boolean {
  return stat.size === entry.size && stat.mtimeMs === entry.mtimeMs && stat.ctimeMs === entry.ctimeMs && stat.ino === entry.ino
}

export async function scanFolder (options: ScanOptions): Promise<ScanResult> {
  const { fs, root, index, chunkFile, ignore, signal } = options
  const startedAtMs = (options.now ?? Date.now)()
  const isRacy = (stat: FileStat): boolean => Math.max(stat.mtimeMs, stat.ctimeMs) > startedAtMs - (options.granularityMs ?? granularityOf(stat))

  const added: ScannedFile[] = []
  const modified: Array<ScannedFile & { previous: LocalEntry }> = []
  const touched: Array<ScannedFile & { previous: LocalEntry }> = []
  const problems: ScanProblem[] = []
  const seen = new Set<string>()
  /** Directories not walked (unreadable, invalid name): their indexed files are not deleted. */
  const unwalked: string[] = []
  let unchanged = 0

  const hash = async (path: string, abs: string, stat: FileStat): Promise<ScannedFile | undefined> => {
    let result: { chunks: ChunkRef[], size: number }
    try {
      result = await chunkFile(abs, signal)
    } catch (error) {
      throwIfAborted(signal)
      if (codeOf(error) === 'ENOENT') { seen.delete(path); return undefined } // deleted meanwhile
      problems.push({ path, reason: 'unreadable', detail: String((error as Error).message ?? error) })
      return undefined
    }
    // Hashed while someone wrote it: neither version can be trusted; the next scan retries.
    const after = await fs.stat(abs)
    if (after === undefined) { seen.delete(path); return undefined }
    if (after.kind !== 'file' || after.size !== result.size || after.size !== stat.size ||
      after.mtimeMs !== stat.mtimeMs || after.ctimeMs !== stat.ctimeMs || after.ino !== stat.ino) {
      problems.push({ path, reason: 'changing', detail: 'the file changed while it was hashed' })
      return undefined
    }
    return { path, stat: after, chunks: result.chunks, rootHash: rootHashOf(result.chunks), racy: isRacy(after) }
  }

  const visitFile = async (path: string, abs: string): Promise<void> => {
    const stat = await fs.stat(abs)
    if (stat === undefined) return // deleted since the listing
    if (stat.kind !== 'file') {
      problems.push({ path, reason: 'not-a-regular-file', detail: `a ${stat.kind}` })
      return
    }
    seen.add(path)
    const previous = index.get(path)
    if (previous !== undefined && !previous.racy && sameStat(stat, previous)) {
      unchanged++
      return
    }
    const file = await hash(path, abs, stat)
    if (file === undefined) return
    if (previous === undefined) added.push(file)
    else if (file.rootHash !== previous.rootHash || file.stat.size !== previous.size || file.stat.mode !== previous.mode) {
      modified.push({ ...file, previous })
    } else {
      touched.push({ ...file, previous })
    }
  }

  let rootEntries
  try {
    rootEntries = await fs.readdir(root)
  } catch (error) {
    throw new SyncError(`cannot read the folder ${root}: ${String((error as Error).message ?? error)}`, 'ERR_FOLDER_UNREADABLE', { cause: error })
  }
  // Depth-first with an explicit stack (a folder may be deep); names sorted for determinism.
  const stack: Array<{ rel: string, entries: Array<{ name: string, kind: string }> }> = [{ rel: '', entries: rootEntries }]
  while (stack.length > 0) {
    const { rel, entries } = stack.pop()!
    const dirs: string[] = []
    for (const entry of [...entries].sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) {
      throwIfAborted(signal)
      if (isReservedName(entry.name)) continue
      const path = rel === '' ? entry.name : `${rel}/${entry.name}`
      const isDir = entry.kind === 'directory'
      if (ignore?.ignores(path, isDir) === true) continue
      const problem = catalogPathProblem(path)
      if (problem !== undefined) {
        problems.push({ path, reason: 'invalid-name', detail: problem })
        if (isDir) unwalked.push(path)
        continue
      }
      const abs = join(root, ...path.split('/'))
      if (isDir) dirs.push(path)
      else if (entry.kind === 'file') await visitFile(path, abs)
      else problems.push({ path, reason: 'not-a-regular-file', detail: `a ${entry.kind}` })
    }
    for (const dir of dirs.reverse()) {
      try {
        stack.push({ rel: dir, entries: await fs.readdir(join(root, ...dir.split('/'))) })
      } catch (error) {
        if (codeOf(error) === 'ENOENT') continue // removed since the listing: its files are deleted
        problems.push({ path: dir, reason: 'unreadable', detail: String((error as Error).message ?? error) })
        unwalked.push(dir)
      }
    }
  }

  const deleted: LocalEntry[] = []
  const ignored: LocalEntry[] = []
  const troubled = new Set(problems.map(p => p.path))
  const kept = (path: string): boolean => troubled.has(path) ||
    unwalked.some(dir => path.startsWith(dir + '/'))
  for (const entry of index.entries()) {
    if (seen.has(entry.path)) continue
    if (ignore?.ignores(entry.path) === true) ignored.push(entry)
    else if (!kept(entry.path)) deleted.push(entry)
  }

  // Renames: the same content vanished at one path and appeared at another.
  const renamed: Array<ScannedFile & { from: string, previous: LocalEntry }> = []
  const gone = new Map<string, LocalEntry[]>()
  for (const entry of deleted) {
    if (entry.size === 0) continue // every empty file is alike: pairing them would be a guess
    const key = `${entry.size}:${entry.rootHash}`
    gone.set(key, [...(gone.get(key) ?? []), entry])
  }
  const stillAdded: ScannedFile[] = []
  const paired = new Set<LocalEntry>()
  for (const file of added) {
    const candidates = gone.get(`${file.stat.size}:${file.rootHash}`)
    const previous = candidates?.shift()
    if (previous === undefined) { stillAdded.push(file); continue }
    paired.add(previous)
    renamed.push({ ...file, from: previous.path, previous })
  }
  return {
    startedAtMs,
    added: stillAdded,
    modified,
    touched,
    deleted: deleted.filter(e => !paired.has(e)),
    renamed,
    ignored,
    problems,
    unchanged
  }
}

/** The local-index entry for a scanned file, at catalog version `version`. */
export function entryOfScan (file: ScannedFile, version: number): LocalEntry {
  return {
    path: file.path, size: file.stat.size, mtimeMs: file.stat.mtimeMs, ctimeMs: file.stat.ctimeMs, ino: file.stat.ino,
    mode: file.stat.mode, chunks: file.chunks, rootHash: file.rootHash, version, racy: file.racy
  }
}
