/**
 * The catalog of one shared folder: the replicated state machine of a file-replication virtual
 * peer. Every replication node applies the same commands in the same order and so holds the
 * same `path → CatalogEntry` map; what it then does to its local folder follows from the
 * entries (`onChange`, `entries`).
 *
 * Deterministic by construction: time is the slot's proposal time, the origin comes from the
 * command, conflicts are decided by conflict.ts from replicated state only, and every failure is
 * a result (never a throw), so a command fails alike on every replica.
 *
 * Scale: the map is persistent (persistent-map.ts), so `capture()` is O(1) on the apply path and
 * the bytes are produced later from the frozen root, while applies go on; entries are immutable
 * and shared between versions.
 *
 * Invariant kept by every mutation: no live file is a proper path prefix of another live file (a
 * path cannot be both a file and a directory on disk); a command that would break it is refused.
 */
import { createHash } from 'node:crypto'
import type { ApplyContext, StateMachine } from '../contracts/index.js'
import { InvalidArgumentError } from '../util/errors.js'
import { CHUNK_BYTES_MAX, isChunkId } from './chunk.js'
import type { ChunkRef } from './chunk.js'
import { CatalogSnapshotError } from './errors.js'
import { readRefs, writeRefs } from './catalog-codec.js'
import { SyncReader, SyncWriter } from './sync-codec.js'
import type { SyncErrorFactory } from './sync-codec.js'
import { EMPTY_ROOT_HASH, FILE_CHUNKS_MAX, LIST_LIMIT_MAX, ORIGIN_CHARS_MAX, isRootHash, rootHashOf } from './catalog-types.js'
import type {
  CatalogAnswer, CatalogCommand, CatalogEntry, CatalogPage, CatalogQuery, CatalogResult, CatalogStats,
  DeleteCommand, Edit, PutCommand, RenameCommand
} from './catalog-types.js'
import { REASON, decideDelete, decidePut, decideRename } from './conflict.js'
import { catalogPathProblem, conflictName, PATH_BYTES_MAX } from './paths.js'
import { PersistentMap } from './persistent-map.js'

/** Attempts at a free conflict name (`-2`, `-3`, …) before the command is refused. */
export const CONFLICT_ATTEMPTS_MAX = 100

/** What one applied command changed: the paths written (a rename writes two), at `revision`. */
export type CatalogChange =
  | { readonly kind: 'apply', readonly revision: number, readonly paths: readonly string[] }
  /** The whole state was replaced from a snapshot: anything may have changed. */
  | { readonly kind: 'restore', readonly revision: number }

export type CatalogListener = (change: CatalogChange) => void

export interface CatalogOptions {
  /**
   * A listener threw. Listeners run inside `apply`, where a throw would fail the command on this
   * replica only (a divergence), so the error is caught and handed here. Default: rethrown
   * from a microtask (an uncaught error: loud, but outside apply).
   */
  readonly onListenerError?: (error: unknown) => void
}

// The suffix conflictName adds, before the extension: `.conflict-<peer≤8>-YYYYMMDD-HHMMSS[-n]`.
const CONFLICT_NAME = /\.conflict-[A-Za-z0-9]{1,8}-\d{8}-\d{6}(?:-\d+)?(?:\.[^./]*)?$/

/** Whether `path` has the form of a conflict copy (a user may name a file so too: it counts). */
export function isConflictPath (path: string): boolean {
  const name = path.slice(path.lastIndexOf('/') + 1)
  return CONFLICT_NAME.test(name)
}

/** The catalog's state at one revision; immutable, shared by the state machine and its captures. */
interface CatalogState {
  readonly entries: PersistentMap<string, CatalogEntry>
  readonly revision: number
  readonly files: number
  readonly bytes: number
  readonly tombstones: number
  /** Live conflict copies, by path (derived: not in the snapshot). */
  readonly conflicts: PersistentMap<string, true>
}

const EMPTY_STATE: CatalogState = {
  entries: PersistentMap.empty<CatalogEntry>(),
  revision: 0,
  files: 0,
  bytes: 0,
  tombstones: 0,
  conflicts: PersistentMap.empty<true>()
}

export class CatalogStateMachine implements StateMachine<CatalogCommand, CatalogResult, CatalogQuery, CatalogAnswer> {
  private state: CatalogState = EMPTY_STATE
  private readonly listeners = new Set<CatalogListener>()
  private readonly onListenerError: (error: unknown) => void

  constructor (options: CatalogOptions = {}) {
    this.onListenerError = options.onListenerError ?? (error => { queueMicrotask(() => { throw error }) })
  }

  // ---- the state machine ----

  apply (command: CatalogCommand, ctx: ApplyContext): CatalogResult {
    const before = this.state
    const changed: string[] = []
    let result: CatalogResult
    const type = typeof command === 'object' && command !== null ? (command as { type?: unknown }).type : undefined
    switch (type) {
      case 'put': result = this.put(command as PutCommand, ctx, changed); break
      case 'delete': result = this.delete(command as DeleteCommand, ctx, changed); break
      case 'rename': result = this.rename(command as RenameCommand, ctx, changed); break
      default: result = { status: 'refused', version: 0, path: '', reason: `unknown command type ${JSON.stringify(String(type))}` }
    }
    if (this.state !== before) this.notify({ kind: 'apply', revision: this.state.revision, paths: changed })
    return result
  }

  query (query: CatalogQuery): CatalogAnswer {
    switch (query?.type) {
      case 'get': return this.get(query.path) ?? null
      case 'list': return this.list(query)
      case 'conflicts': return this.conflicts()
      case 'revision': return this.revision
      case 'stats': return this.stats
      default: throw new InvalidArgumentError(`unknown catalog query ${JSON.stringify((query as { type?: unknown } | undefined)?.type)}`)
    }
  }

  snapshot (): Uint8Array {
    return this.capture()()
  }

  /**
   * O(1): freezes the current state (a reference to the persistent map's root and the counters)
   * and returns the function that serializes it, whenever it is called, to exactly the bytes
   * `snapshot()` gives now.
   */
  capture (): () => Uint8Array {
    const frozen = this.state
    return () => serializeCatalog(frozen)
  }

  /**
   * Replaces the state with the snapshot's, after checking all of it: on any damage it throws
   * `CatalogSnapshotError` and the state is as before.
   */
  restore (bytes: Uint8Array): void {
    this.state = parseCatalog(bytes)
    this.notify({ kind: 'restore', revision: this.state.revision })
  }

  // ---- reads for the node (not through the log) ----

  get revision (): number {
    return this.state.revision
  }

  get stats (): CatalogStats {
    const s = this.state
    return { revision: s.revision, files: s.files, bytes: s.bytes, tombstones: s.tombstones, conflicts: s.conflicts.size }
  }

  /** The entry at `path` (a tombstone too), or undefined. */
  get (path: string): CatalogEntry | undefined {
    return this.state.entries.get(path)
  }

  /**
   * One page of entries in path order (code-unit order), after `after`, under `prefix` (a plain
   * string prefix: pass `dir/` for a directory), live ones only unless `deleted`.
   * @throws InvalidArgumentError for a limit outside 1..LIST_LIMIT_MAX
   */
  list (options: { readonly after?: string, readonly limit: number, readonly prefix?: string, readonly deleted?: boolean }): CatalogPage {
    const { after, limit, prefix = '', deleted = false } = options
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > LIST_LIMIT_MAX) throw new InvalidArgumentError(`list limit must be 1 to ${LIST_LIMIT_MAX}, got ${String(limit)}`)
    const from = after !== undefined && after >= prefix ? { key: after, exclusive: true } : { key: prefix }
    const entries: CatalogEntry[] = []
    for (const [path, entry] of this.state.entries.entries(from)) {
      if (!path.startsWith(prefix)) break
      if (entry.deleted && !deleted) continue
      if (entries.length === limit) return { entries, next: (entries[limit - 1] as CatalogEntry).path }
      entries.push(entry)
    }
    return { entries }
  }

  /** Live conflict copies, in path order. */
  conflicts (): CatalogEntry[] {
    const out: CatalogEntry[] = []
    for (const [path] of this.state.conflicts) out.push(this.state.entries.get(path) as CatalogEntry)
    return out
  }

  /**
   * Every entry in path order (tombstones with `deleted: true`), from the state as it is now:
   * later applies do not disturb an iteration under way.
   */
  * entries (options: { readonly deleted?: boolean } = {}): IterableIterator<CatalogEntry> {
    for (const [, entry] of this.state.entries) if (!entry.deleted || options.deleted === true) yield entry
  }

  forEachLive (fn: (entry: CatalogEntry) => void): void {
    for (const entry of this.entries()) fn(entry)
  }

  /** Entries (tombstones included) changed after `revision`: O(n), for a node that lost track (after a restart). */
  changedSince (revision: number): CatalogEntry[] {
    const out: CatalogEntry[] = []
    for (const [, entry] of this.state.entries) if (entry.version > revision) out.push(entry)
    return out
  }

  /** Calls `listener` after each command that changed something, and after a restore. Returns the unsubscribe. */
  onChange (listener: CatalogListener): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  private notify (change: CatalogChange): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(change)
      } catch (error) {
        this.onListenerError(error)
      }
    }
  }

  // ---- commands ----

  private put (c: PutCommand, ctx: ApplyContext, changed: string[]): CatalogResult {
    const path = typeof c.path === 'string' ? c.path : ''
    const refuse = (reason: string, version = this.state.entries.get(path)?.version ?? 0): CatalogResult => ({ status: 'refused', version, path, reason })
    const problem = catalogPathProblem(c.path) ?? originProblem(c.origin) ?? putShapeProblem(c)
    if (problem !== undefined) return refuse(problem, 0)
    const delta = !('full' in c.content)
    if (!delta) {
      const full = (c.content as { full: readonly ChunkRef[] }).full
      const bad = contentProblem(full, c.size, c.rootHash)
      if (bad !== undefined) return refuse(bad)
    }
    const current = this.state.entries.get(path)
    const decision = decidePut(current, { base: c.base, delta, size: c.size, mode: c.mode, rootHash: c.rootHash })
    switch (decision.action) {
      case 'noop': return { status: 'ok', version: (current as CatalogEntry).version, path, reason: decision.reason }
      case 'resubmit-full': return { status: 'resubmit-full', version: current?.version ?? 0, path, reason: decision.reason }
      case 'write': {
        let chunks: readonly ChunkRef[]
        if (delta) {
          const rebuilt = applyEdits(current?.deleted === false ? current.chunks : [], (c.content as { delta: readonly Edit[] }).delta)
          if (typeof rebuilt === 'string') return refuse(rebuilt)
          const bad = contentProblem(rebuilt, c.size, c.rootHash)
          if (bad !== undefined) return refuse(bad)
          chunks = rebuilt
        } else {
          chunks = (c.content as { full: readonly ChunkRef[] }).full.map(copyRef)
        }
        const clash = this.clash(path)
        if (clash !== undefined) return refuse(clash)
        const version = this.write(entryOf(path, c, chunks, this.state.revision + 1, ctx))
        changed.push(path)
        return decision.reason === undefined ? { status: 'ok', version, path } : { status: 'ok', version, path, reason: decision.reason }
      }
      case 'copy': {
        const keptAs = this.freeConflictName(path, c.origin, ctx.proposedAtMs)
        if (keptAs === undefined) return refuse(`no free conflict name after ${CONFLICT_ATTEMPTS_MAX} attempts`)
        const chunks = (c.content as { full: readonly ChunkRef[] }).full.map(copyRef)
        const version = this.write(entryOf(keptAs, c, chunks, this.state.revision + 1, ctx))
        changed.push(keptAs)
        return { status: 'conflict', version, path, keptAs, reason: decision.reason }
      }
    }
  }

  private delete (c: DeleteCommand, ctx: ApplyContext, changed: string[]): CatalogResult {
    const path = typeof c.path === 'string' ? c.path : ''
    const problem = catalogPathProblem(c.path) ?? originProblem(c.origin) ?? versionProblem('base', c.base)
    if (problem !== undefined) return { status: 'refused', version: 0, path, reason: problem }
    const current = this.state.entries.get(path)
    const decision = decideDelete(current, c.base)
    const version = current?.version ?? 0
    switch (decision.action) {
      case 'refuse': return { status: 'refused', version, path, reason: decision.reason }
      case 'noop': return { status: 'ok', version, path, reason: decision.reason }
      case 'delete': {
        const written = this.write(tombstoneOf(path, this.state.revision + 1, c.origin, ctx))
        changed.push(path)
        return { status: 'ok', version: written, path }
      }
    }
  }

  private rename (c: RenameCommand, ctx: ApplyContext, changed: string[]): CatalogResult {
    const path = typeof c.from === 'string' ? c.from : ''
    const problem = catalogPathProblem(c.from) ?? catalogPathProblem(c.to) ?? originProblem(c.origin) ?? versionProblem('base', c.base) ??
      (c.from === c.to ? 'source and target are the same path' : undefined)
    if (problem !== undefined) return { status: 'refused', version: 0, path, reason: problem }
    const from = this.state.entries.get(c.from)
    const decision = decideRename(from, c.base, this.state.entries.get(c.to))
    if (decision.action === 'refuse') return { status: 'refused', version: from?.version ?? 0, path, reason: decision.reason }
    const source = from as CatalogEntry
    let target = c.to
    if (decision.action === 'copy') {
      const name = this.freeConflictName(c.to, c.origin, ctx.proposedAtMs, c.from)
      if (name === undefined) return { status: 'refused', version: source.version, path, reason: `no free conflict name after ${CONFLICT_ATTEMPTS_MAX} attempts` }
      target = name
    } else {
      const clash = this.clash(c.to, c.from)
      if (clash !== undefined) return { status: 'refused', version: source.version, path, reason: clash }
    }
    const version = this.state.revision + 1
    this.write(tombstoneOf(c.from, version, c.origin, ctx))
    this.write({ ...source, path: target, version, origin: c.origin, changedAtMs: ctx.proposedAtMs })
    changed.push(c.from, target)
    return decision.action === 'copy'
      ? { status: 'conflict', version, path, keptAs: target, reason: decision.reason }
      : { status: 'ok', version, path, keptAs: target }
  }

  // ---- helpers ----

  /** Stores `entry` (its version is the new revision) and keeps the counters; returns the version. */
  private write (entry: CatalogEntry): number {
    const s = this.state
    const old = s.entries.get(entry.path)
    let { files, bytes, tombstones, conflicts } = s
    const isCopy = isConflictPath(entry.path)
    if (old !== undefined) {
      if (old.deleted) tombstones--
      else { files--; bytes -= old.size }
    }
    if (entry.deleted) tombstones++
    else { files++; bytes += entry.size }
    if (isCopy) conflicts = entry.deleted ? conflicts.delete(entry.path) : conflicts.set(entry.path, true)
    Object.freeze(entry)
    this.state = { entries: s.entries.set(entry.path, entry), revision: Math.max(s.revision, entry.version), files, bytes, tombstones, conflicts }
    return entry.version
  }

  /**
   * Why a live file cannot be at `path` (a live file is one of its directories, or it is a
   * directory of live files), or undefined. `ignore`: a path about to stop being live (a
   * rename's source). Tombstones under `path/` are skipped, one step each.
   */
  private clash (path: string, ignore?: string): string | undefined {
    const entries = this.state.entries
    for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) {
      const dir = path.slice(0, i)
      const e = entries.get(dir)
      if (e !== undefined && !e.deleted && dir !== ignore) return `a file named ${JSON.stringify(dir)} is in the way (a path cannot be a file and a directory)`
    }
    const under = path + '/'
    for (const [p, e] of entries.entries({ key: under })) {
      if (!p.startsWith(under)) break
      if (!e.deleted && p !== ignore) return `${JSON.stringify(path)} is a directory of files (a path cannot be a file and a directory)`
    }
    return undefined
  }

  /** The first conflictName of `path` (attempt 1, 2, …) that no live file holds and nothing is in the way of. */
  private freeConflictName (path: string, origin: string, atMs: number, ignore?: string): string | undefined {
    for (let attempt = 1; attempt <= CONFLICT_ATTEMPTS_MAX; attempt++) {
      const name = conflictName(path, origin, atMs, attempt)
      const e = this.state.entries.get(name)
      if ((e === undefined || e.deleted) && this.clash(name, ignore) === undefined) return name
    }
    return undefined
  }
}

function copyRef (r: ChunkRef): ChunkRef {
  return { id: r.id, size: r.size }
}

function entryOf (path: string, c: PutCommand, chunks: readonly ChunkRef[], version: number, ctx: ApplyContext): CatalogEntry {
  return { path, version, size: c.size, mode: c.mode, mtimeMs: c.mtimeMs, chunks: Object.freeze(chunks.slice()), rootHash: c.rootHash, deleted: false, origin: c.origin, changedAtMs: ctx.proposedAtMs }
}

function tombstoneOf (path: string, version: number, origin: string, ctx: ApplyContext): CatalogEntry {
  return { path, version, size: 0, mode: 0, mtimeMs: 0, chunks: Object.freeze([]), rootHash: EMPTY_ROOT_HASH, deleted: true, origin, changedAtMs: ctx.proposedAtMs }
}

function originProblem (origin: unknown): string | undefined {
  if (typeof origin !== 'string' || origin.length === 0 || origin.length > ORIGIN_CHARS_MAX) return `origin must be a string of 1 to ${ORIGIN_CHARS_MAX} characters`
  return undefined
}

function versionProblem (what: string, v: unknown): string | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? undefined : `${what} is not a non-negative integer`
}

const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

/** Field types of a put that did not come through the binary codec (which guarantees them). */
function putShapeProblem (c: PutCommand): string | undefined {
  if (!isUint(c.base)) return 'base is not a non-negative integer'
  if (!isUint(c.size)) return 'size is not a non-negative integer'
  if (!isUint(c.mode) || c.mode > 0xffffffff) return 'mode is not a uint32'
  if (!isUint(c.mtimeMs)) return 'mtimeMs is not a non-negative integer'
  if (!isRootHash(c.rootHash)) return 'rootHash is not 64 lowercase hex digits'
  const content = c.content as unknown
  if (typeof content !== 'object' || content === null) return 'content is not an object'
  if ('full' in content) return Array.isArray(content.full) ? undefined : 'content.full is not an array'
  if (!('delta' in content) || !Array.isArray(content.delta)) return 'content is neither full nor delta'
  for (const e of content.delta as unknown[]) {
    if (typeof e !== 'object' || e === null) return 'an edit is not an object'
    const edit = e as Edit
    if (!isUint(edit.at) || !isUint(edit.remove) || !Array.isArray(edit.insert)) return 'an edit is malformed'
  }
  return undefined
}

function refsProblem (refs: readonly ChunkRef[]): string | undefined {
  if (refs.length > FILE_CHUNKS_MAX) return `more than ${FILE_CHUNKS_MAX} chunks`
  for (const r of refs) {
    if (typeof r !== 'object' || r === null || !isChunkId(r.id)) return 'a chunk id is not 64 lowercase hex digits'
    if (!Number.isSafeInteger(r.size) || r.size < 1 || r.size > CHUNK_BYTES_MAX) return `a chunk size is outside 1 to ${CHUNK_BYTES_MAX}`
  }
  return undefined
}

/** Why `chunks` is not a file of `size` bytes hashing to `rootHash`, or undefined. */
function contentProblem (chunks: readonly ChunkRef[], size: number, rootHash: string): string | undefined {
  const bad = refsProblem(chunks)
  if (bad !== undefined) return bad
  let sum = 0
  for (const r of chunks) sum += r.size
  if (sum !== size) return `size ${size} is not the sum of the chunk sizes (${sum})`
  if (rootHashOf(chunks) !== rootHash) return 'rootHash does not match the chunk list'
  return undefined
}

/**
 * The base list with the edits applied. Positions refer to the base list and the edits come in
 * order, not overlapping (`at` ≥ the previous edit's `at + remove`), so the result is built in
 * one pass: O(base + inserted), whatever the edits. A string says why they do not apply.
 */
export function applyEdits (base: readonly ChunkRef[], edits: readonly Edit[]): ChunkRef[] | string {
  const out: ChunkRef[] = []
  let pos = 0
  for (const e of edits) {
    if (e.at < pos) return 'edits overlap or are out of order'
    if (e.at + e.remove > base.length) return `an edit reaches past the base version's ${base.length} chunks`
    const bad = refsProblem(e.insert)
    if (bad !== undefined) return bad
    for (let i = pos; i < e.at; i++) out.push(base[i] as ChunkRef)
    for (const r of e.insert) out.push(copyRef(r))
    pos = e.at + e.remove
    if (out.length > FILE_CHUNKS_MAX) return `more than ${FILE_CHUNKS_MAX} chunks`
  }
  for (let i = pos; i < base.length; i++) out.push(base[i] as ChunkRef)
  if (out.length > FILE_CHUNKS_MAX) return `more than ${FILE_CHUNKS_MAX} chunks`
  return out
}

// ---- snapshot format ----
//
//   "VPCT" 01 | revision count | entry×count            (varints as in catalog-codec.ts)
//   entry = path deleted(0/1) version origin changedAtMs [size mode mtimeMs varint(n) ref×n]
//
// Entries in path order (so equal states give equal bytes on every replica); the bracketed part
// only for live entries. The root hash is not stored: it is recomputed from the chunks on
// restore, so it cannot disagree with them. The counters and the conflict set are derived.

const SNAPSHOT_MAGIC = Uint8Array.of(0x56, 0x50, 0x43, 0x54) // "VPCT"
const SNAPSHOT_FORMAT = 1

/** `rootHashOf`, with the ids decoded into one buffer and hashed in one call (restore's hot loop). */
function rootHashOfIds (chunks: readonly ChunkRef[]): string {
  const ids = Buffer.allocUnsafe(32 * chunks.length)
  for (let i = 0; i < chunks.length; i++) ids.write((chunks[i] as ChunkRef).id, 32 * i, 'hex')
  return createHash('sha256').update(ids).digest('hex')
}

const snapshotError: SyncErrorFactory = (message, options) => new CatalogSnapshotError(message, options)

function serializeCatalog (s: CatalogState): Uint8Array {
  const w = new SyncWriter('catalog snapshot', snapshotError).raw(SNAPSHOT_MAGIC).byte(SNAPSHOT_FORMAT).varint(s.revision).varint(s.entries.size)
  for (const [path, e] of s.entries) {
    w.str(path, PATH_BYTES_MAX).byte(e.deleted ? 1 : 0).varint(e.version).str(e.origin, ORIGIN_CHARS_MAX * 3).varint(e.changedAtMs)
    if (e.deleted) continue
    w.varint(e.size).varint(e.mode).varint(e.mtimeMs)
    writeRefs(w, e.chunks)
  }
  return w.finish()
}

/** @throws CatalogSnapshotError on anything `serializeCatalog` could not have produced */
function parseCatalog (bytes: Uint8Array): CatalogState {
  if (!(bytes instanceof Uint8Array)) throw new CatalogSnapshotError('catalog snapshot refused: not bytes')
  const r = new SyncReader(bytes, 'catalog snapshot', snapshotError)
  for (const b of SNAPSHOT_MAGIC) if (r.byte('magic') !== b) r.fail('not a catalog snapshot (magic)')
  const format = r.byte('format')
  if (format !== SNAPSHOT_FORMAT) r.fail(`format ${format}, expected ${SNAPSHOT_FORMAT}`)
  const revision = r.varint('revision')
  // A tombstone takes at least 5 bytes: a count the input cannot hold is refused before allocating.
  const count = r.count('entry count', Number.MAX_SAFE_INTEGER, 5)
  const sorted = new Array<[string, CatalogEntry]>(count)
  let files = 0
  let bytesLive = 0
  let tombstones = 0
  const conflicts: Array<[string, true]> = []
  let previous: string | undefined
  for (let i = 0; i < count; i++) {
    const path = r.str('path', PATH_BYTES_MAX)
    if (previous !== undefined && !(previous < path)) r.fail(`entry ${i}: paths not strictly increasing`)
    previous = path
    const problem = catalogPathProblem(path)
    if (problem !== undefined) r.fail(`entry ${i}: path ${problem}`)
    const deleted = r.bool('deleted')
    const version = r.bounded('version', 1, revision)
    const origin = r.str('origin', ORIGIN_CHARS_MAX * 3)
    if (originProblem(origin) !== undefined) r.fail(`entry ${i}: bad origin`)
    const changedAtMs = r.varint('changedAtMs')
    let entry: CatalogEntry
    if (deleted) {
      entry = { path, version, size: 0, mode: 0, mtimeMs: 0, chunks: Object.freeze([]), rootHash: EMPTY_ROOT_HASH, deleted, origin, changedAtMs }
      tombstones++
    } else {
      const size = r.varint('size')
      const mode = r.bounded('mode', 0, 0xffffffff)
      const mtimeMs = r.varint('mtimeMs')
      const chunks = readRefs(r)
      let sum = 0
      for (const c of chunks) sum += c.size
      if (sum !== size) r.fail(`entry ${i}: size ${size} is not the sum of its chunks (${sum})`)
      entry = { path, version, size, mode, mtimeMs, chunks: Object.freeze(chunks), rootHash: rootHashOfIds(chunks), deleted, origin, changedAtMs }
      files++
      bytesLive += size
      if (isConflictPath(path)) conflicts.push([path, true])
    }
    sorted[i] = [path, Object.freeze(entry)]
  }
  r.end()
  return {
    entries: PersistentMap.fromSorted(sorted),
    revision,
    files,
    bytes: bytesLive,
    tombstones,
    conflicts: PersistentMap.fromSorted(conflicts)
  }
}
