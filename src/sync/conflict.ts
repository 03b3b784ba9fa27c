/**
 * The catalog's conflict rules, as pure functions of the entry the catalog holds and the command:
 * every replica decides alike, and the tables in test/sync/conflict.spec.ts pin every case.
 *
 * Concurrency is judged by `base`, the version the writer's copy was based on: equal to the
 * current entry's version means the writer saw the latest change ("fresh"); anything else means
 * the catalog moved on since ("stale"). Log order decides: what committed first keeps the name.
 * No edit is lost silently: content that cannot take the name is kept under a conflict name, and
 * whatever is refused is refused with a reason the writer's node acts on.
 *
 * put (current absent / live / tombstone × base fresh / stale):
 *   absent,    base 0            → write (a new file)
 *   absent,    base ≠ 0, full    → write (the writer knew a version this catalog never had — a
 *                                   tombstone forgotten, or a confused writer: nothing to lose)
 *   absent,    base ≠ 0, delta   → resubmit-full (no base list to edit)
 *   live,      fresh             → write (a delta is applied to the current chunk list)
 *   live,      stale, same bytes → no-op (two hosts added or edited to the same content)
 *   live,      stale, full       → conflict copy: the writer's content under conflictName(path)
 *   live,      stale, delta      → resubmit-full (the writer's base list is gone; the full list
 *                                   then becomes a conflict copy)
 *   tombstone, fresh             → write (recreate)
 *   tombstone, stale, full       → write: the file was deleted while the writer edited it; the
 *                                   edit wins over the concurrent delete (deleting is undone,
 *                                   nothing is lost)
 *   tombstone, stale, delta      → resubmit-full (a tombstone has no chunk list to edit)
 *
 * delete:
 *   absent                       → refused (no such file)
 *   live,      fresh             → tombstone
 *   live,      stale             → refused: the file was modified concurrently, the modified
 *                                   version is kept (a delete never destroys an edit it did not see)
 *   tombstone, fresh or stale    → no-op (already deleted)
 *
 * rename (of `from`):
 *   from absent or tombstone     → refused (no such file)
 *   from live, stale             → refused: the modified file stays at `from`; the writer's node
 *                                   adds its copy at `to` as a new file
 *   from live, fresh, `to` free  → move (`to` absent or a tombstone)
 *   from live, fresh, `to` live  → move under conflictName(to): `to`'s own file keeps its name
 */
import type { CatalogEntry } from './catalog-types.js'

export type EntryState = 'absent' | 'live' | 'tombstone'

export function entryState (entry: CatalogEntry | undefined): EntryState {
  return entry === undefined ? 'absent' : entry.deleted ? 'tombstone' : 'live'
}

/** Whether a writer that based its change on `base` saw the entry's latest change. */
export function isFresh (entry: CatalogEntry | undefined, base: number): boolean {
  return base === (entry?.version ?? 0)
}

export const REASON = {
  newBaseUnknown: 'base version unknown to the catalog; written as a new file',
  sameContent: 'the same content is already there',
  staleBase: 'the file changed since the base version; the writer\'s version is kept as a conflict copy',
  staleDelta: 'the file changed since the base version; a delta cannot be applied: resubmit the full chunk list',
  deletedMeanwhile: 'the file was deleted since the base version; the edit wins and recreates it',
  noSuchFile: 'no such file in the catalog',
  modifiedMeanwhile: 'the file was modified since the base version; the modified version is kept',
  alreadyDeleted: 'already deleted',
  renameSourceModified: 'the source was modified since the base version; it stays where it is',
  renameTargetTaken: 'the target is taken; the renamed file is kept as a conflict copy of it'
} as const

export type PutDecision =
  | { readonly action: 'write', readonly reason?: string }
  | { readonly action: 'noop', readonly reason: string }
  | { readonly action: 'copy', readonly reason: string }
  | { readonly action: 'resubmit-full', readonly reason: string }

export interface PutFacts {
  readonly base: number
  readonly delta: boolean
  readonly size: number
  readonly mode: number
  readonly rootHash: string
}

export function decidePut (current: CatalogEntry | undefined, put: PutFacts): PutDecision {
  const state = entryState(current)
  if (isFresh(current, put.base)) return { action: 'write' }
  if (state === 'absent') return put.delta ? { action: 'resubmit-full', reason: REASON.staleDelta } : { action: 'write', reason: REASON.newBaseUnknown }
  const entry = current as CatalogEntry
  if (state === 'tombstone') {
    return put.delta ? { action: 'resubmit-full', reason: REASON.staleDelta } : { action: 'write', reason: REASON.deletedMeanwhile }
  }
  // Compared before the delta check: the command states its result's hash, size and mode, so
  // two hosts that reached the same bytes agree without rebuilding anything.
  if (entry.rootHash === put.rootHash && entry.size === put.size && entry.mode === put.mode) return { action: 'noop', reason: REASON.sameContent }
  return put.delta ? { action: 'resubmit-full', reason: REASON.staleDelta } : { action: 'copy', reason: REASON.staleBase }
}

export type DeleteDecision =
  | { readonly action: 'delete' }
  | { readonly action: 'noop', readonly reason: string }
  | { readonly action: 'refuse', readonly reason: string }

export function decideDelete (current: CatalogEntry | undefined, base: number): DeleteDecision {
  switch (entryState(current)) {
    case 'absent': return { action: 'refuse', reason: REASON.noSuchFile }
    case 'tombstone': return { action: 'noop', reason: REASON.alreadyDeleted }
    case 'live': return isFresh(current, base) ? { action: 'delete' } : { action: 'refuse', reason: REASON.modifiedMeanwhile }
  }
}

export type RenameDecision =
  | { readonly action: 'move' }
  | { readonly action: 'copy', readonly reason: string }
  | { readonly action: 'refuse', readonly reason: string }

export function decideRename (from: CatalogEntry | undefined, base: number, to: CatalogEntry | undefined): RenameDecision {
  if (entryState(from) !== 'live') return { action: 'refuse', reason: REASON.noSuchFile }
  if (!isFresh(from, base)) return { action: 'refuse', reason: REASON.renameSourceModified }
  return entryState(to) === 'live' ? { action: 'copy', reason: REASON.renameTargetTaken } : { action: 'move' }
}
