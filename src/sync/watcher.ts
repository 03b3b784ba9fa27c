/**
 * Watches a folder and reports which paths changed, in debounced batches, so the scanner looks
 * at those paths soon after an edit instead of at the next full rescan. A hint, never the truth:
 * watchers drop events (overflowing kernel queues, network file systems, a sleeping laptop), so
 * the caller also rescans the whole folder periodically, and every reported path is re-checked
 * by the scanner (an event says "look here", not what happened).
 *
 * chokidar 5 underneath (it uses `node:fs` directly, not the FileSystem contract: there is nothing
 * to watch in an in-memory file system). Symlinks are not followed; `.vpeer*` names (our temporary
 * files) and ignored paths are filtered out; `.vpeerignore` changes are flagged separately so the
 * caller reloads the rules and rescans. chokidar's `atomic` mode folds an editor's
 * write-temp-then-rename save into one change.
 */
import { watch } from 'chokidar'
import type { FSWatcher } from 'chokidar'
import type { Stats } from 'node:fs'
import { relative, sep } from 'node:path'
import type { IgnoreRules } from './ignore.js'
import { IGNORE_FILE, isReservedName } from './ignore.js'

export interface WatchBatch {
  /** Catalog-style relative paths of files or directories that changed (rescan each, and below it). */
  readonly paths: string[]
  /** `.vpeerignore` changed: reload the rules and rescan everything. */
  readonly ignoreFileChanged: boolean
  /** Too many changes to list (`paths` is empty): rescan everything. */
  readonly overflow: boolean
}

export interface FolderWatcherOptions {
  /** Absolute path of the folder. */
  readonly root: string
  readonly onBatch: (batch: WatchBatch) => void
  readonly onError?: (error: Error) => void
  /** Rules consulted at each event (so a reload takes effect at once). */
  readonly ignore?: IgnoreRules
  /** Quiet time after the last event before a batch goes out (default 300 ms). */
  readonly debounceMs?: number
  /** A batch goes out at the latest this long after its first event, even if events continue (default 2 s). */
  readonly maxDelayMs?: number
  /** More distinct paths than this in one batch becomes an overflow (default 10,000). */
  readonly maxPaths?: number
}

export class FolderWatcher {
  private watcher: FSWatcher | undefined
  private pending = new Set<string>()
  private ignoreFileChanged = false
  private overflow = false
  private quietTimer: ReturnType<typeof setTimeout> | undefined
  private deadlineTimer: ReturnType<typeof setTimeout> | undefined
  private closed = false

  constructor (private readonly options: FolderWatcherOptions) {}

  /** Starts watching; resolves once the initial tree is watched. Aborting `signal` closes it. */
  async start (signal?: AbortSignal): Promise<void> {
    if (this.watcher !== undefined || this.closed) throw new Error('FolderWatcher: start() once, before close()')
    const { root } = this.options
    const watcher = watch(root, {
      ignoreInitial: true,
      followSymlinks: false,
      atomic: true,
      persistent: true,
      ignorePermissionErrors: true,
      ignored: (path: string, stats?: Stats) => this.isIgnored(path, stats)
    })
    this.watcher = watcher
    for (const event of ['add', 'change', 'unlink', 'addDir', 'unlinkDir'] as const) {
      watcher.on(event, (path: string) => this.record(path))
    }
    watcher.on('error', (error: unknown) => this.options.onError?.(error instanceof Error ? error : new Error(String(error))))
    const onAbort = (): void => { void this.close() }
    if (signal !== undefined) {
      if (signal.aborted) { await this.close(); return }
      signal.addEventListener('abort', onAbort, { once: true })
    }
    await new Promise<void>((resolve) => {
      watcher.once('ready', () => resolve())
    })
  }

  /** Stops watching; a pending batch is dropped (the caller's next rescan covers it). */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.clearTimers()
    this.pending.clear()
    await this.watcher?.close()
  }

  private relativeOf (path: string): string {
    return relative(this.options.root, path).split(sep).join('/')
  }

  private isIgnored (path: string, stats?: Stats): boolean {
    const rel = this.relativeOf(path)
    if (rel === '' || rel.startsWith('..')) return false // the root itself
    if (rel === IGNORE_FILE) return false // watched, reported as a flag
    if (rel.split('/').some(isReservedName)) return true
    return this.options.ignore?.ignores(rel, stats?.isDirectory() ?? false) === true
  }

  private record (path: string): void {
    if (this.closed) return
    const rel = this.relativeOf(path)
    if (rel === IGNORE_FILE) this.ignoreFileChanged = true
    else if (rel !== '' && !this.overflow) {
      this.pending.add(rel)
      if (this.pending.size > (this.options.maxPaths ?? 10_000)) {
        this.overflow = true
        this.pending.clear()
      }
    }
    if (this.quietTimer !== undefined) clearTimeout(this.quietTimer)
    this.quietTimer = setTimeout(() => this.emit(), this.options.debounceMs ?? 300)
    this.deadlineTimer ??= setTimeout(() => this.emit(), this.options.maxDelayMs ?? 2000)
  }

  private clearTimers (): void {
    if (this.quietTimer !== undefined) clearTimeout(this.quietTimer)
    if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer)
    this.quietTimer = undefined
    this.deadlineTimer = undefined
  }

  private emit (): void {
    this.clearTimers()
    if (this.closed) return
    const batch: WatchBatch = { paths: [...this.pending].sort(), ignoreFileChanged: this.ignoreFileChanged, overflow: this.overflow }
    this.pending = new Set()
    this.ignoreFileChanged = false
    this.overflow = false
    if (batch.paths.length === 0 && !batch.ignoreFileChanged && !batch.overflow) return
    try {
      this.options.onBatch(batch)
    } catch (error) {
      this.options.onError?.(error instanceof Error ? error : new Error(String(error)))
    }
  }
}
