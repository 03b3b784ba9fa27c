/**
 * `FaultyFileSystem`: a decorator over any `FileSystem` (a `MemoryFileSystem`, or the real disk
 * through `NodeFileSystem`) that injects the faults replication must survive: a full disk, one
 * failing call, a crash in the middle of a write. It also counts what went through it.
 *
 * Faults are injected before the call reaches the underlying file system, except the two that
 * tear a write: `diskFull` and `crashAfterBytes` let the bytes that still fit through, then fail,
 * as a disk that fills up mid-write does (the caller sees a partial file and must clean it up).
 */
import { SyncError } from './errors.js'
import type { DirEntry, FileStat, FileSystem, ReadableFile, WritableFile } from './fs.js'
import { fsError } from './memory-fs.js'
import type { CodedErrorOptions } from '../util/errors.js'

/** The calls a fault can be injected into: the `FileSystem` methods and the handles' calls. */
export type FaultOp = keyof FileSystem | 'read' | 'write' | 'sync' | 'close'

/**
 * The injected crash: the process "died" at this point. Every later call fails with it too,
 * until `recover()`; with `onCrash` the underlying `MemoryFileSystem` was crashed at that point.
 */
export class InjectedCrashError extends SyncError {
  static override name = 'InjectedCrashError'
  constructor (message = 'injected crash', options?: CodedErrorOptions) {
    super(message, 'ERR_INJECTED_CRASH', options)
  }
}

export interface FaultCounters {
  /** Bytes that reached the underlying file system through `write`. */
  bytesWritten: number
  /** Calls per operation, including the ones that failed. */
  readonly calls: Record<FaultOp, number>
  /** Faults injected (failNext, disk full, crash). */
  faults: number
}

const OPS: readonly FaultOp[] = ['stat', 'readdir', 'mkdir', 'openRead', 'openWrite', 'rename', 'unlink', 'rmdir', 'rmTree', 'realpath', 'readlink', 'syncDir', 'utimes', 'read', 'write', 'sync', 'close']

export class FaultyFileSystem implements FileSystem {
  readonly counters: FaultCounters = { bytesWritten: 0, calls: Object.fromEntries(OPS.map(op => [op, 0])) as Record<FaultOp, number>, faults: 0 }
  private budget = Number.POSITIVE_INFINITY
  private fullCode = 'ENOSPC'
  private crashBudget = Number.POSITIVE_INFINITY
  private onCrash: (() => void) | undefined
  private crashed = false
  private readonly pending = new Map<FaultOp, string[]>()

  constructor (readonly inner: FileSystem) {}

  /**
   * From now on at most `budgetBytes` more bytes can be written; a write beyond writes what fits
   * and fails with `code` (ENOSPC, or EDQUOT for a quota).
   */
  diskFull (budgetBytes = 0, code: 'ENOSPC' | 'EDQUOT' = 'ENOSPC'): void {
    this.budget = budgetBytes
    this.fullCode = code
  }

  /** Lifts `diskFull`. */
  freeSpace (): void {
    this.budget = Number.POSITIVE_INFINITY
  }

  /** The next `times` calls of `op` fail with an error of `code` (e.g. EIO, EACCES), untouched underneath. */
  failNext (op: FaultOp, code: string, times = 1): void {
    const queue = this.pending.get(op) ?? []
    for (let i = 0; i < times; i++) queue.push(code)
    this.pending.set(op, queue)
  }

  /**
   * After `n` more bytes are written, "crash": the write that crosses the line writes the bytes
   * up to it, calls `onCrash` (typically `() => memoryFs.crash()`), and throws
   * `InjectedCrashError`; so does every call after it until `recover()`.
   */
  crashAfterBytes (n: number, onCrash?: () => void): void {
    this.crashBudget = n
    this.onCrash = onCrash
  }

  /** Whether the injected crash happened (and `recover()` was not called since). */
  get isCrashed (): boolean {
    return this.crashed
  }

  /** The "process" restarted: calls go through again; every other fault is cleared too. */
  recover (): void {
    this.crashed = false
    this.crashBudget = Number.POSITIVE_INFINITY
    this.onCrash = undefined
    this.budget = Number.POSITIVE_INFINITY
    this.pending.clear()
  }

  // --- FileSystem ---

  async stat (path: string): Promise<FileStat | undefined> {
    this.enter('stat', path)
    return await this.inner.stat(path)
  }

  async readdir (path: string): Promise<DirEntry[]> {
    this.enter('readdir', path)
    return await this.inner.readdir(path)
  }

  async mkdir (path: string, options?: { recursive?: boolean }): Promise<void> {
    this.enter('mkdir', path)
    await this.inner.mkdir(path, options)
  }

  async openRead (path: string): Promise<ReadableFile> {
    this.enter('openRead', path)
    return new FaultyReadable(this, await this.inner.openRead(path), path)
  }

  async openWrite (path: string, options?: { exclusive?: boolean, mode?: number }): Promise<WritableFile> {
    this.enter('openWrite', path)
    return new FaultyWritable(this, await this.inner.openWrite(path, options), path)
  }

  async rename (from: string, to: string): Promise<void> {
    this.enter('rename', from)
    await this.inner.rename(from, to)
  }

  async unlink (path: string): Promise<void> {
    this.enter('unlink', path)
    await this.inner.unlink(path)
  }

  async rmdir (path: string): Promise<void> {
    this.enter('rmdir', path)
    await this.inner.rmdir(path)
  }

  async rmTree (path: string): Promise<void> {
    this.enter('rmTree', path)
    await this.inner.rmTree(path)
  }

  async realpath (path: string): Promise<string> {
    this.enter('realpath', path)
    return await this.inner.realpath(path)
  }

  async readlink (path: string): Promise<string> {
    this.enter('readlink', path)
    return await this.inner.readlink(path)
  }

  async syncDir (path: string): Promise<void> {
    this.enter('syncDir', path)
    await this.inner.syncDir(path)
  }

  async utimes (path: string, atimeMs: number, mtimeMs: number): Promise<void> {
    this.enter('utimes', path)
    await this.inner.utimes(path, atimeMs, mtimeMs)
  }

  // --- Internals used by the handles ---

  /** @internal Counts the call, fails it if crashed or if a failure is queued for `op`. */
  enter (op: FaultOp, path: string): void {
    this.counters.calls[op]++
    if (this.crashed) throw new InjectedCrashError(`injected crash: ${op} '${path}' after the crash`)
    const queue = this.pending.get(op)
    const code = queue?.shift()
    if (code !== undefined) {
      this.counters.faults++
      throw fsError(code, op, path)
    }
  }

  /** @internal Writes `bytes` through `inner`, applying the disk budget and the crash point. */
  async write (inner: WritableFile, bytes: Uint8Array, path: string): Promise<void> {
    this.enter('write', path)
    const limit = Math.min(this.budget, this.crashBudget)
    if (bytes.length <= limit) {
      await inner.write(bytes)
      this.spend(bytes.length)
      return
    }
    const fits = Math.max(0, Math.floor(limit))
    if (fits > 0) {
      await inner.write(bytes.subarray(0, fits))
      this.spend(fits)
    }
    this.counters.faults++
    if (this.crashBudget <= this.budget) {
      this.crashed = true
      this.onCrash?.()
      throw new InjectedCrashError(`injected crash while writing '${path}'`)
    }
    throw fsError(this.fullCode, 'write', path)
  }

  private spend (n: number): void {
    this.counters.bytesWritten += n
    this.budget -= n
    this.crashBudget -= n
  }
}

class FaultyReadable implements ReadableFile {
  constructor (private readonly fs: FaultyFileSystem, private readonly inner: ReadableFile, private readonly path: string) {}

  async read (position: number, length: number): Promise<Uint8Array> {
    this.fs.enter('read', this.path)
    return await this.inner.read(position, length)
  }

  async close (): Promise<void> {
    this.fs.enter('close', this.path)
    await this.inner.close()
  }
}

class FaultyWritable implements WritableFile {
  constructor (private readonly fs: FaultyFileSystem, private readonly inner: WritableFile, private readonly path: string) {}

  async write (bytes: Uint8Array): Promise<void> {
    await this.fs.write(this.inner, bytes, this.path)
  }

  async sync (): Promise<void> {
    this.fs.enter('sync', this.path)
    await this.inner.sync()
  }

  async close (): Promise<void> {
    this.fs.enter('close', this.path)
    await this.inner.close()
  }
}
