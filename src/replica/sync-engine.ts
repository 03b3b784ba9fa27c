/**
 * The sync engine of one replication node: it keeps the local folder and the catalog (the VP's
 * replicated state) in step, in passes that never overlap.
 *
 * A pass first publishes what changed locally (the scanner compares the folder with the local
 * index: puts, deletes, renames, each naming the catalog version the local copy was based on),
 * then materializes what changed in the catalog (fetches the chunks it lacks from its peers in one
 * swarm for the whole batch, then lands each file atomically, a few at a time, or removes it). Local first, so a
 * local edit is in the log before a landing could overwrite it: landing re-checks the file right
 * before its rename and leaves any file the index did not see (the next pass publishes it, and the
 * catalog keeps it as a conflict copy if it lost the race). No edit is ever overwritten unseen.
 *
 * The local index records, per path, the file as this node last saw or wrote it and which catalog
 * version that content is: `version > 0` it is that version; `UNPUBLISHED` (0) not yet in the
 * catalog; `SUPERSEDED` the catalog keeps this content elsewhere (a conflict copy), so the catalog's
 * own version may replace it; `REFUSED` the catalog refused it (a path it cannot hold): left alone
 * until it changes.
 */
import type { ChunkRef, ChunkStore } from '../sync/chunk.js'
import type { FileSystem, FileStat } from '../sync/fs.js'
import type { LocalEntry, LocalIndex } from '../sync/local-index.js'
import type { ScanResult, ScannedFile } from '../sync/scanner.js'
import { entryOfScan } from '../sync/scanner.js'
import type { CatalogCommand, CatalogEntry, CatalogResult, Edit } from '../sync/catalog-types.js'
import { expectationOf, landFile, removeFile } from '../sync/landing.js'
import { mkdirInside, parentOf } from '../sync/safe-path.js'
import type { NetLogger } from '../alm/log.js'
import { errorFields, silentLogger } from '../alm/log.js'
import { setMaxListeners } from 'node:events'
import { AbortError } from '../util/errors.js'

export const UNPUBLISHED = 0
export const SUPERSEDED = -1
export const REFUSED = -2

/** The catalog as this node's replica has applied it. */
export interface CatalogView {
  readonly revision: number
  get (path: string): CatalogEntry | undefined
  /** Every entry, tombstones included. */
  entries (): Iterable<CatalogEntry>
  /** `paths` changed; `undefined`: anything may have (a snapshot was restored). Returns an unsubscribe. */
  onChange (listener: (paths: readonly string[] | undefined) => void): () => void
}

export interface SyncEngineOptions {
  readonly fs: FileSystem
  /** Absolute path of the folder. */
  readonly root: string
  readonly store: ChunkStore
  readonly index: LocalIndex
  readonly catalog: CatalogView
  /** Scans the folder against the index; chunks of changed files are put in the store. */
  readonly scan: (signal: AbortSignal) => Promise<ScanResult>
  /** Orders a catalog command through the VP; resolves with its result once applied here. */
  readonly submit: (command: CatalogCommand, signal: AbortSignal) => Promise<CatalogResult>
  /** Fetches `chunks` from the peers into the store; rejects if some stay unavailable. */
  readonly fetch: (chunks: readonly ChunkRef[], signal: AbortSignal) => Promise<void>
  /** Removes chunks nobody references; `isReferenced` tells which to keep. */
  readonly collectGarbage?: (isReferenced: (id: string) => boolean, signal: AbortSignal) => Promise<{ removed: number, bytesFreed: number }>
  /** This node's peer id: the `origin` of its changes. */
  readonly origin: string
  /** A pass runs at least this often even without events, ms (watchers miss things). Default 10 s. */
  readonly rescanEveryMs?: number
  /** Garbage collection at most this often, ms (default 60 s). */
  readonly gcEveryMs?: number
  /** Catalog commands in flight at once (default 16). */
  readonly submitConcurrency?: number
  readonly log?: NetLogger
}

/** A path the engine could not bring in step, and why (shown by `vpeer status`). */
export interface SyncProblem {
  readonly path: string
  readonly reason: string
  readonly atMs: number
}

export interface SyncEngineStatus {
  readonly revision: number
  /** Paths waiting for the next pass (catalog changes not yet materialized). */
  readonly pending: number
  /** Whether the last pass found nothing to do and nothing is pending. */
  readonly idle: boolean
  readonly passes: number
  readonly published: number
  readonly landed: number
  readonly removed: number
  readonly conflicts: number
  readonly problems: readonly SyncProblem[]
  readonly lastPassMs: number
}

const PROBLEMS_MAX = 100
/** Files landed at once. */
const LAND_CONCURRENCY = 4
/** `store.has` calls at once. */
const HAS_CONCURRENCY = 32

export class SyncEngine {
  private readonly o: SyncEngineOptions
  private readonly log: NetLogger
  private readonly abort = new AbortController()
  /** Catalog paths to materialize; `all` after a restore or at start. */
  private dirty = new Set<string>()
  private all = true
  private running: Promise<void> | undefined
  private again = false
  private timer: ReturnType<typeof setInterval> | undefined
  private unsubscribe: (() => void) | undefined
  private lastGc = 0
  private readonly problems = new Map<string, SyncProblem>()
  private counts = { passes: 0, published: 0, landed: 0, removed: 0, conflicts: 0 }
  private lastPassWorked = true
  private lastPassMs = 0
  private stopped = false

  constructor (options: SyncEngineOptions) {
    this.o = options
    this.log = options.log ?? silentLogger
    // Every submit and fetch of a pass listens on this one signal: up to submitConcurrency at once.
    setMaxListeners((options.submitConcurrency ?? 16) + 16, this.abort.signal)
  }

  start (): void {
    this.unsubscribe = this.o.catalog.onChange(paths => {
      if (paths === undefined) this.all = true
      else for (const p of paths) this.dirty.add(p)
      this.kick()
    })
    this.timer = setInterval(() => { this.kick() }, this.o.rescanEveryMs ?? 10_000)
    this.timer.unref()
    this.kick()
  }

  /** Asks for a pass (now, or right after the one running). */
  kick (): void {
    if (this.stopped) return
    if (this.running !== undefined) {
      this.again = true
      return
    }
    this.running = this.loop().finally(() => { this.running = undefined })
  }

  /** Resolves after a complete pass that started after this call. */
  async settle (): Promise<void> {
    const target = this.counts.passes + (this.running !== undefined ? 2 : 1)
    this.kick()
    while (!this.stopped && this.counts.passes < target) {
      if (this.running === undefined) this.kick()
      await this.running
    }
  }

  status (): SyncEngineStatus {
    return {
      revision: this.o.catalog.revision,
      pending: this.all ? -1 : this.dirty.size,
      idle: !this.lastPassWorked && !this.all && this.dirty.size === 0 && this.running === undefined && !this.again,
      ...this.counts,
      problems: [...this.problems.values()],
      lastPassMs: this.lastPassMs
    }
  }

  async stop (): Promise<void> {
    this.stopped = true
    this.abort.abort()
    if (this.timer !== undefined) clearInterval(this.timer)
    this.unsubscribe?.()
    await this.running?.catch(() => {})
    await this.o.index.flush()
  }

  private async loop (): Promise<void> {
    do {
      this.again = false
      const started = performance.now()
      const before = this.counts.published + this.counts.landed + this.counts.removed + this.counts.conflicts
      try {
        this.lastPassWorked = await this.pass(this.abort.signal)
        // A pass that changed something is followed by another at once: it confirms the folder
        // is in step (and reports idle) instead of waiting for the next rescan. One that only
        // met unavailable content waits for an event or the timer, so nothing spins.
        if (this.counts.published + this.counts.landed + this.counts.removed + this.counts.conflicts !== before) this.again = true
      } catch (error) {
        if (this.stopped) return
        this.lastPassWorked = true
        this.log.warn(errorFields(error), 'sync pass failed (retried)')
      } finally {
        this.counts.passes++
        this.lastPassMs = performance.now() - started
      }
      try {
        await this.o.index.flush()
      } catch (error) {
        this.log.error(errorFields(error), 'the local index could not be saved')
      }
    } while (this.again && !this.stopped)
  }

  /** One pass; resolves with whether it did anything. */
  private async pass (signal: AbortSignal): Promise<boolean> {
    const changes = await this.o.scan(signal)
    let worked = await this.publish(changes, signal)
    worked = await this.materialize(signal) || worked
    if (!worked && this.o.collectGarbage !== undefined && Date.now() - this.lastGc >= (this.o.gcEveryMs ?? 60_000)) {
      this.lastGc = Date.now()
      const referenced = this.referencedChunks()
      const gc = await this.o.collectGarbage(id => referenced.has(id), signal)
      if (gc.removed > 0) this.log.info({ removed: gc.removed, bytesFreed: gc.bytesFreed }, 'unreferenced chunks removed')
    }
    return worked
  }

  // ─── local → catalog ─────────────────────────────────────────────────────────────────

  private async publish (changes: ScanResult, signal: AbortSignal): Promise<boolean> {
    // Same content, new stat (touched, re-saved, a racy entry rehashed): the index only.
    for (const t of changes.touched) this.o.index.set(entryOfScan(t, t.previous.version))
    // Now ignored here: forgotten locally, never deleted from the catalog.
    for (const e of changes.ignored) this.o.index.delete(e.path)
    for (const p of changes.problems) this.note(p.path, `${p.reason}: ${p.detail}`)
    const jobs: Array<() => Promise<void>> = []
    for (const file of [...changes.added, ...changes.modified]) jobs.push(async () => { await this.publishFile(file, signal) })
    for (const entry of changes.deleted) jobs.push(async () => { await this.publishDelete(entry.path, signal) })
    for (const r of changes.renamed) jobs.push(async () => { await this.publishRename(r.from, r, signal) })
    await runLimited(jobs, this.o.submitConcurrency ?? 16, signal)
    return jobs.length > 0
  }

  private async publishFile (file: ScannedFile, signal: AbortSignal): Promise<void> {
    const known = this.o.index.get(file.path)
    // Content the catalog holds elsewhere, or never accepted: edited again, it is a new file.
    const base = known !== undefined && known.version > 0 ? known.version : 0
    const put = {
      type: 'put' as const,
      path: file.path,
      base,
      size: file.stat.size,
      mode: file.stat.mode,
      mtimeMs: Math.max(0, Math.floor(file.stat.mtimeMs)),
      origin: this.o.origin,
      rootHash: file.rootHash
    }
    const edits = known !== undefined && known.version > 0 ? deltaOf(known.chunks, file.chunks) : undefined
    let result = await this.o.submit(edits !== undefined ? { ...put, content: { delta: edits } } : { ...put, content: { full: file.chunks } }, signal)
    if (result.status === 'resubmit-full') result = await this.o.submit({ ...put, content: { full: file.chunks } }, signal)
    switch (result.status) {
      case 'ok':
        this.counts.published++
        this.o.index.set(entryOfScan(file, result.version))
        this.forget(file.path)
        break
      case 'conflict':
        // The catalog keeps this content under `keptAs`; the name now holds the earlier version,
        // which the materialize step lands here (this content is safe in the catalog).
        this.counts.conflicts++
        this.o.index.set(entryOfScan(file, SUPERSEDED))
        this.log.info({ path: file.path, keptAs: result.keptAs, reason: result.reason }, 'concurrent edit: kept as a conflict copy')
        this.dirty.add(file.path)
        if (result.keptAs !== undefined) this.dirty.add(result.keptAs)
        break
      default:
        this.o.index.set(entryOfScan(file, REFUSED))
        this.note(file.path, `not replicated: ${result.reason ?? result.status}`)
        this.log.warn({ path: file.path, status: result.status, reason: result.reason }, 'the catalog refused a local file')
    }
  }

  private async publishDelete (path: string, signal: AbortSignal): Promise<void> {
    const known = this.o.index.get(path)
    this.o.index.delete(path)
    if (known === undefined || known.version <= 0) return
    const result = await this.o.submit({ type: 'delete', path, base: known.version, origin: this.o.origin }, signal)
    if (result.status === 'ok') this.counts.published++
    // Refused (modified meanwhile): the catalog's version comes back here at materialize.
    else this.log.info({ path, reason: result.reason }, 'local delete not applied')
    this.dirty.add(path)
  }

  private async publishRename (from: string, to: ScannedFile, signal: AbortSignal): Promise<void> {
    const known = this.o.index.get(from)
    if (known === undefined || known.version <= 0) {
      this.o.index.delete(from)
      await this.publishFile(to, signal)
      return
    }
    const result = await this.o.submit({ type: 'rename', from, to: to.path, base: known.version, origin: this.o.origin }, signal)
    this.o.index.delete(from)
    if (result.status === 'ok' && result.keptAs === undefined) {
      this.counts.published++
      this.o.index.set(entryOfScan(to, result.version))
    } else if (result.status === 'ok' || result.status === 'conflict') {
      // Renamed onto a live file: the content went to a conflict name of `to`; what is at `to`
      // here is that content, which the catalog keeps, so its own `to` may replace it.
      this.counts.conflicts++
      this.o.index.set(entryOfScan(to, SUPERSEDED))
    } else {
      // `from` changed meanwhile: that version comes back at `from`; this copy is a new file.
      await this.publishFile(to, signal)
    }
    this.dirty.add(from)
    this.dirty.add(to.path)
    if (result.keptAs !== undefined) this.dirty.add(result.keptAs)
  }

  // ─── catalog → local ─────────────────────────────────────────────────────────────────

  private async materialize (signal: AbortSignal): Promise<boolean> {
    let paths: Iterable<string>
    if (this.all) {
      this.all = false
      this.dirty.clear()
      paths = [...this.o.catalog.entries()].map(e => e.path)
    } else {
      paths = this.dirty
      this.dirty = new Set()
    }
    const lands: CatalogEntry[] = []
    let worked = false
    for (const path of paths) {
      const entry = this.o.catalog.get(path)
      const known = this.o.index.get(path)
      if (entry === undefined || (known !== undefined && known.version === entry.version)) continue
      if (entry.deleted) {
        if (known === undefined) continue
        if (known.version === UNPUBLISHED || known.version === REFUSED) continue
        const r = await removeFile({ fs: this.o.fs, root: this.o.root, path, expect: expectationOf(known) })
        if (r.removed) {
          this.o.index.delete(path)
          this.counts.removed++
          worked = true
        } else {
          this.retryLater(path, r.reason)
          worked = true
        }
        continue
      }
      if (known !== undefined && (known.version === UNPUBLISHED || known.version === REFUSED)) continue
      lands.push(entry)
    }
    if (lands.length === 0) return worked
    const refs = new Map<string, ChunkRef>()
    for (const e of lands) for (const c of e.chunks) refs.set(c.id, c)
    const held = await this.held(refs.keys())
    const missing = [...refs.values()].filter(c => !held.has(c.id))
    if (missing.length > 0) {
      try {
        await this.o.fetch(missing, signal)
      } catch (error) {
        if (signal.aborted) throw new AbortError('stopped', { cause: error })
        // Land what is complete; the rest waits for the next pass (a peer may come online).
        this.log.info(errorFields(error), 'some chunks are not available yet')
      }
    }
    // What the fetch did not bring (a peer went away) waits for the next pass.
    const fetched = missing.length === 0 ? held : new Set([...held, ...await this.held(missing.map(c => c.id))])
    const ready: CatalogEntry[] = []
    for (const entry of lands) {
      if (entry.chunks.every(c => fetched.has(c.id))) ready.push(entry)
      else this.retryLater(entry.path, 'content not available from any peer yet')
    }
    await this.landAll(ready, signal)
    return true
  }

  /** The ids of `ids` the store holds (asked `HAS_CONCURRENCY` at a time: one stat each). */
  private async held (ids: Iterable<string>): Promise<Set<string>> {
    const out = new Set<string>()
    const jobs = [...ids].map(id => async () => { if (await this.o.store.has(id)) out.add(id) })
    await runLimited(jobs, HAS_CONCURRENCY, this.abort.signal)
    return out
  }

  /**
   * Lands `entries` (their chunks all stored), `LAND_CONCURRENCY` files at a time: each landing
   * waits on reads and an fsync, which overlap well. Parent directories are created first, one
   * at a time, so no two landings race to create (and make durable) the same directory. Paths
   * equal but for case or Unicode normalization share a lane and land one after the other: on a
   * file system that folds them, the second must see the first (a case collision), not race it.
   */
  private async landAll (entries: readonly CatalogEntry[], signal: AbortSignal): Promise<void> {
    for (const dir of [...new Set(entries.map(e => parentOf(e.path)))].sort()) {
      if (signal.aborted) throw new AbortError('stopped')
      // A path that cannot be created fails again in landFile, which reports it for that file.
      await mkdirInside(this.o.fs, this.o.root, dir).catch(() => {})
    }
    const lanes = new Map<string, CatalogEntry[]>()
    for (const e of entries) {
      const key = e.path.normalize('NFC').toLowerCase()
      const lane = lanes.get(key)
      if (lane === undefined) lanes.set(key, [e])
      else lane.push(e)
    }
    await runLimited([...lanes.values()].map(lane => async () => {
      for (const entry of lane) {
        if (signal.aborted) throw new AbortError('stopped')
        await this.land(entry, signal)
      }
    }), LAND_CONCURRENCY, signal)
    if (signal.aborted) throw new AbortError('stopped')
  }

  private async land (entry: CatalogEntry, signal: AbortSignal): Promise<void> {
    const { path } = entry
    const known = this.o.index.get(path)
    try {
      const r = await landFile({ fs: this.o.fs, store: this.o.store, root: this.o.root, path, entry, expect: expectationOf(known), signal })
      if (r.landed) {
        // Racy: the stat was taken right after the write, so the next scan hashes it once more.
        this.o.index.set(localEntryOf(path, r.stat, entry, true))
        this.counts.landed++
        this.forget(path)
      } else {
        this.retryLater(path, r.reason)
      }
    } catch (error) {
      if (signal.aborted) throw error
      this.retryLater(path, (error as Error).message)
      this.log.warn({ path, ...errorFields(error) }, 'a file could not be written (retried)')
    }
  }

  /** Every chunk a live catalog entry references (a local file's content is in the catalog once published). */
  private referencedChunks (): Set<string> {
    const ids = new Set<string>()
    for (const e of this.o.catalog.entries()) if (!e.deleted) for (const c of e.chunks) ids.add(c.id)
    return ids
  }

  private retryLater (path: string, reason: string): void {
    this.dirty.add(path)
    this.note(path, reason)
  }

  private note (path: string, reason: string): void {
    this.problems.delete(path)
    this.problems.set(path, { path, reason, atMs: Date.now() })
    if (this.problems.size > PROBLEMS_MAX) this.problems.delete(this.problems.keys().next().value as string)
  }

  private forget (path: string): void {
    this.problems.delete(path)
  }
}

function localEntryOf (path: string, s: FileStat, entry: CatalogEntry, racy: boolean): LocalEntry {
  return { path, size: s.size, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs, ino: s.ino, mode: s.mode, chunks: entry.chunks, rootHash: entry.rootHash, version: entry.version, racy }
}

/**
 * The edit that turns `from` into `to`: one replaced run between their common prefix and suffix
 * (an append, an insertion or an overwrite in place moves only the chunks around the change).
 * `undefined` when the edit would not be smaller than the full list.
 */
export function deltaOf (from: readonly ChunkRef[], to: readonly ChunkRef[]): Edit[] | undefined {
  let prefix = 0
  while (prefix < from.length && prefix < to.length && (from[prefix] as ChunkRef).id === (to[prefix] as ChunkRef).id) prefix++
  let suffix = 0
  while (suffix < from.length - prefix && suffix < to.length - prefix && (from[from.length - 1 - suffix] as ChunkRef).id === (to[to.length - 1 - suffix] as ChunkRef).id) suffix++
  const insert = to.slice(prefix, to.length - suffix)
  if (insert.length >= to.length && to.length > 0) return undefined
  return [{ at: prefix, remove: from.length - prefix - suffix, insert }]
}

/** Runs `jobs` with at most `limit` at once; the first failure is rethrown after all settle. */
async function runLimited (jobs: ReadonlyArray<() => Promise<void>>, limit: number, signal: AbortSignal): Promise<void> {
  let next = 0
  let failure: unknown
  const worker = async (): Promise<void> => {
    while (next < jobs.length && !signal.aborted) {
      const job = jobs[next++] as () => Promise<void>
      try {
        await job()
      } catch (error) {
        failure ??= error
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker))
  if (failure !== undefined) throw failure
}
