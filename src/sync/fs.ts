/**
 * The file system as replication sees it: the few calls it needs, so tests can run the same code
 * on an in-memory file system with injected faults (a full disk, a crash that loses what was not
 * synced) and production runs it on `node:fs`. Paths are absolute, in the host's syntax.
 *
 * Errors keep Node's shape: an `Error` with `code` (`ENOENT`, `ENOSPC`, `EEXIST`, …), so code
 * written against `node:fs` handles both.
 */
import { constants } from 'node:fs'
import { lstat, lutimes, mkdir, open, readdir, readlink, realpath, rename, rm, rmdir, unlink } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'

export type EntryKind = 'file' | 'directory' | 'symlink' | 'other'

/** `lstat` of one entry: a symlink is reported as itself, never followed. */
/** The `code` of a Node-shaped file-system error (ENOENT, ENOSPC, …), or undefined. */
export function errorCode (error: unknown): unknown {
  return (error as { code?: unknown } | undefined)?.code
}

/** A full disk or an exhausted quota. */
export function isDiskFull (error: unknown): boolean {
  const code = errorCode(error)
  return code === 'ENOSPC' || code === 'EDQUOT'
}

export interface FileStat {
  readonly kind: EntryKind
  readonly size: number
  /** Permission bits (mode & 0o7777). */
  readonly mode: number
  readonly mtimeMs: number
  /** Changes on every write and rename, also when a writer restores the old mtime. */
  readonly ctimeMs: number
  /** Inode number (0 where the platform has none): a replaced file gets a new one. */
  readonly ino: number
}

export interface DirEntry {
  readonly name: string
  readonly kind: EntryKind
}

export interface ReadableFile {
  /** Up to `length` bytes from `position` (fewer only at the end of the file). */
  read (position: number, length: number): Promise<Uint8Array>
  close (): Promise<void>
}

export interface WritableFile {
  /** Appends `bytes`. */
  write (bytes: Uint8Array): Promise<void>
  /** Makes everything written so far durable (fsync). */
  sync (): Promise<void>
  close (): Promise<void>
}

export interface FileSystem {
  /** `undefined` if nothing is there (ENOENT, ENOTDIR). */
  stat (path: string): Promise<FileStat | undefined>
  readdir (path: string): Promise<DirEntry[]>
  mkdir (path: string, options?: { recursive?: boolean }): Promise<void>
  openRead (path: string): Promise<ReadableFile>
  /** Creates `path` for writing; fails with EEXIST if it exists (`exclusive`) or truncates it. */
  openWrite (path: string, options?: { exclusive?: boolean, mode?: number }): Promise<WritableFile>
  /** Atomically replaces `to` with `from` (same directory or same file system). */
  rename (from: string, to: string): Promise<void>
  unlink (path: string): Promise<void>
  rmdir (path: string): Promise<void>
  /** Removes a tree (no error if absent). */
  rmTree (path: string): Promise<void>
  realpath (path: string): Promise<string>
  readlink (path: string): Promise<string>
  /** Makes a directory's entries (a rename into it) durable. */
  syncDir (path: string): Promise<void>
  /**
   * Sets the access and modification times (ms since the epoch) of `path` itself, never of a
   * symlink's target. Changes ctime, as on every host.
   */
  utimes (path: string, atimeMs: number, mtimeMs: number): Promise<void>
}

function kindOf (s: { isFile: () => boolean, isDirectory: () => boolean, isSymbolicLink: () => boolean }): EntryKind {
  return s.isSymbolicLink() ? 'symlink' : s.isFile() ? 'file' : s.isDirectory() ? 'directory' : 'other'
}

function isMissing (error: unknown): boolean {
  const code = (error as { code?: unknown }).code
  return code === 'ENOENT' || code === 'ENOTDIR'
}

class NodeReadable implements ReadableFile {
  constructor (private readonly handle: FileHandle) {}

  async read (position: number, length: number): Promise<Uint8Array> {
    const buffer = new Uint8Array(length)
    let filled = 0
    while (filled < length) {
      const { bytesRead } = await this.handle.read(buffer, filled, length - filled, position + filled)
      if (bytesRead === 0) break
      filled += bytesRead
    }
    return filled === length ? buffer : buffer.subarray(0, filled)
  }

  async close (): Promise<void> {
    await this.handle.close()
  }
}

class NodeWritable implements WritableFile {
  constructor (private readonly handle: FileHandle) {}

  async write (bytes: Uint8Array): Promise<void> {
    let done = 0
    while (done < bytes.length) {
      const { bytesWritten } = await this.handle.write(bytes, done, bytes.length - done)
      done += bytesWritten
    }
  }

  async sync (): Promise<void> {
    await this.handle.sync()
  }

  async close (): Promise<void> {
    await this.handle.close()
  }
}

/** `FileSystem` on `node:fs`. */
export class NodeFileSystem implements FileSystem {
  async stat (path: string): Promise<FileStat | undefined> {
    try {
      const s = await lstat(path)
      return { kind: kindOf(s), size: s.size, mode: s.mode & 0o7777, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs, ino: s.ino }
    } catch (error) {
      if (isMissing(error)) return undefined
      throw error
    }
  }

  async readdir (path: string): Promise<DirEntry[]> {
    const entries = await readdir(path, { withFileTypes: true })
    return entries.map(e => ({ name: e.name, kind: kindOf(e) }))
  }

  async mkdir (path: string, options?: { recursive?: boolean }): Promise<void> {
    await mkdir(path, { recursive: options?.recursive ?? false })
  }

  async openRead (path: string): Promise<ReadableFile> {
    // O_NOFOLLOW: a symlink planted where a file was expected is not followed out of the folder.
    return new NodeReadable(await open(path, constants.O_RDONLY | constants.O_NOFOLLOW))
  }

  async openWrite (path: string, options?: { exclusive?: boolean, mode?: number }): Promise<WritableFile> {
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW |
      (options?.exclusive === true ? constants.O_EXCL : constants.O_TRUNC)
    return new NodeWritable(await open(path, flags, options?.mode ?? 0o644))
  }

  async rename (from: string, to: string): Promise<void> {
    await rename(from, to)
  }

  async unlink (path: string): Promise<void> {
    await unlink(path)
  }

  async rmdir (path: string): Promise<void> {
    await rmdir(path)
  }

  async rmTree (path: string): Promise<void> {
    await rm(path, { recursive: true, force: true })
  }

  async realpath (path: string): Promise<string> {
    return await realpath(path)
  }

  async readlink (path: string): Promise<string> {
    return await readlink(path)
  }

  async syncDir (path: string): Promise<void> {
    const handle = await open(path, constants.O_RDONLY)
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  }

  async utimes (path: string, atimeMs: number, mtimeMs: number): Promise<void> {
    // lutimes: a symlink swapped in for the file is touched itself, its target never.
    await lutimes(path, atimeMs / 1000, mtimeMs / 1000)
  }
}
