/**
 * The conflict tables: every combination of the entry the catalog holds (absent / live /
 * tombstone) × the writer's base (fresh / stale) × the command, through the whole state machine,
 * with what each must leave behind. Also the pure decisions of conflict.ts.
 */
import { describe, expect, it } from 'vitest'
import { CatalogStateMachine } from '../../src/sync/catalog.js'
import type { CatalogEntry, CatalogResult, PutCommand } from '../../src/sync/catalog-types.js'
import { REASON, decideDelete, decidePut, decideRename } from '../../src/sync/conflict.js'
import { conflictName } from '../../src/sync/paths.js'
import { chunks, ctx, put } from './catalog-fixtures.js'

const T = 1_700_000_000_000
const PATH = 'docs/report.txt'
const V1 = chunks('v1', 3)
const V2 = chunks('v2', 3) // the concurrent writer's content
const V3 = chunks('v3', 4) // the command's content

type Current = 'absent' | 'live' | 'tombstone'

/**
 * A catalog where PATH is `current`: absent; live at version 2 (created at 1, edited at 2);
 * a tombstone at version 2 (created at 1, deleted at 2). Stale base = 1, fresh base = 2 (0 when absent).
 */
function world (current: Current): { sm: CatalogStateMachine, fresh: number, stale: number } {
  const sm = new CatalogStateMachine()
  sm.apply(put('other.txt', 0, chunks('o', 1)), ctx(T))
  if (current === 'absent') return { sm, fresh: 0, stale: 1 }
  sm.apply(put(PATH, 0, V1, 'peerB'), ctx(T))
  if (current === 'live') sm.apply(put(PATH, 2, V2, 'peerB'), ctx(T))
  else sm.apply({ type: 'delete', path: PATH, base: 2, origin: 'peerB' }, ctx(T))
  expect(sm.revision).toBe(3)
  return { sm, fresh: 3, stale: 2 }
}

const delta = (base: number, list = V3): PutCommand => ({
  ...put(PATH, base, list, 'peerA'),
  // Replace everything from the start: valid against a 3-chunk base, and against an empty one only if remove = 0.
  content: { delta: [{ at: 0, remove: 0, insert: list }] }
})

interface Row {
  readonly current: Current
  readonly base: 'fresh' | 'stale'
  readonly command: 'put-full' | 'put-delta' | 'put-same' | 'delete' | 'rename' | 'rename-onto-live'
  readonly status: CatalogResult['status']
  /** What PATH holds afterwards: 'v2' (the concurrent version, untouched), 'v3' (the command's), 'tombstone', 'absent', 'v2-moved' (renamed away). */
  readonly after: 'v2' | 'v3' | 'tombstone' | 'absent'
  /** Where the command's content went when not at PATH. */
  readonly keptAs?: 'conflict' | 'target' | 'target-conflict'
  readonly reason?: string
}

// In world('absent') fresh base = 0, stale = 1; otherwise fresh = 3 (the latest change), stale = 2.
const TABLE: Row[] = [
  { current: 'absent', base: 'fresh', command: 'put-full', status: 'ok', after: 'v3' },
  { current: 'absent', base: 'stale', command: 'put-full', status: 'ok', after: 'v3', reason: REASON.newBaseUnknown },
  { current: 'absent', base: 'fresh', command: 'put-delta', status: 'ok', after: 'v3' },
  { current: 'absent', base: 'stale', command: 'put-delta', status: 'resubmit-full', after: 'absent', reason: REASON.staleDelta },
  { current: 'absent', base: 'fresh', command: 'delete', status: 'refused', after: 'absent', reason: REASON.noSuchFile },
  { current: 'absent', base: 'stale', command: 'delete', status: 'refused', after: 'absent', reason: REASON.noSuchFile },
  { current: 'absent', base: 'fresh', command: 'rename', status: 'refused', after: 'absent', reason: REASON.noSuchFile },
  { current: 'absent', base: 'stale', command: 'rename', status: 'refused', after: 'absent', reason: REASON.noSuchFile },

  { current: 'live', base: 'fresh', command: 'put-full', status: 'ok', after: 'v3' },
  { current: 'live', base: 'stale', command: 'put-full', status: 'conflict', after: 'v2', keptAs: 'conflict', reason: REASON.staleBase },
  { current: 'live', base: 'fresh', command: 'put-delta', status: 'ok', after: 'v3' },
  { current: 'live', base: 'stale', command: 'put-delta', status: 'resubmit-full', after: 'v2', reason: REASON.staleDelta },
  { current: 'live', base: 'fresh', command: 'put-same', status: 'ok', after: 'v2' },
  { current: 'live', base: 'stale', command: 'put-same', status: 'ok', after: 'v2', reason: REASON.sameContent },
  { current: 'live', base: 'fresh', command: 'delete', status: 'ok', after: 'tombstone' },
  { current: 'live', base: 'stale', command: 'delete', status: 'refused', after: 'v2', reason: REASON.modifiedMeanwhile },
  { current: 'live', base: 'fresh', command: 'rename', status: 'ok', after: 'tombstone', keptAs: 'target' },
  { current: 'live', base: 'stale', command: 'rename', status: 'refused', after: 'v2', reason: REASON.renameSourceModified },
  { current: 'live', base: 'fresh', command: 'rename-onto-live', status: 'conflict', after: 'tombstone', keptAs: 'target-conflict', reason: REASON.renameTargetTaken },
  { current: 'live', base: 'stale', command: 'rename-onto-live', status: 'refused', after: 'v2', reason: REASON.renameSourceModified },

  { current: 'tombstone', base: 'fresh', command: 'put-full', status: 'ok', after: 'v3' },
  { current: 'tombstone', base: 'stale', command: 'put-full', status: 'ok', after: 'v3', reason: REASON.deletedMeanwhile },
  { current: 'tombstone', base: 'fresh', command: 'put-delta', status: 'ok', after: 'v3' },
  { current: 'tombstone', base: 'stale', command: 'put-delta', status: 'resubmit-full', after: 'tombstone', reason: REASON.staleDelta },
  { current: 'tombstone', base: 'fresh', command: 'delete', status: 'ok', after: 'tombstone', reason: REASON.alreadyDeleted },
  { current: 'tombstone', base: 'stale', command: 'delete', status: 'ok', after: 'tombstone', reason: REASON.alreadyDeleted },
  { current: 'tombstone', base: 'fresh', command: 'rename', status: 'refused', after: 'tombstone', reason: REASON.noSuchFile },
  { current: 'tombstone', base: 'stale', command: 'rename', status: 'refused', after: 'tombstone', reason: REASON.noSuchFile }
]

function contentOf (e: CatalogEntry | undefined): string {
  if (e === undefined) return 'absent'
  if (e.deleted) return 'tombstone'
  if (e.rootHash === put(PATH, 0, V2).rootHash) return 'v2'
  if (e.rootHash === put(PATH, 0, V3).rootHash) return 'v3'
  return `other ${e.rootHash}`
}

describe('conflict table (through the state machine)', () => {
  for (const row of TABLE) {
    it(`${row.command} on ${row.current} with a ${row.base} base → ${row.status}, ${PATH} holds ${row.after}${row.keptAs !== undefined ? `, kept as ${row.keptAs}` : ''}`, () => {
      const { sm, fresh, stale } = world(row.current)
      const base = row.base === 'fresh' ? fresh : stale
      const before = sm.revision
      const at = T + 5000
      if (row.command === 'rename-onto-live') sm.apply(put('docs/taken.txt', 0, chunks('t', 2), 'peerC'), ctx(at))
      const mid = sm.revision
      const command = row.command === 'put-full'
        ? put(PATH, base, V3)
        : row.command === 'put-delta'
          ? delta(base)
          : row.command === 'put-same'
            ? put(PATH, base, V2)
            : row.command === 'delete'
              ? { type: 'delete' as const, path: PATH, base, origin: 'peerA' }
              : { type: 'rename' as const, from: PATH, to: row.command === 'rename' ? 'docs/moved.txt' : 'docs/taken.txt', base, origin: 'peerA' }
      // A delta whose base is the live 3-chunk v2 must remove it to give exactly V3.
      if (row.command === 'put-delta' && row.current === 'live') (command as { content: unknown }).content = { delta: [{ at: 0, remove: 3, insert: V3 }] }
      const result = sm.apply(command, ctx(at))
      expect(result.status).toBe(row.status)
      expect(result.path).toBe(PATH)
      expect(result.reason).toBe(row.reason)
      expect(contentOf(sm.get(PATH))).toBe(row.after)
      // A fresh put of the same bytes is written (its mtime may have changed); a stale one is not.
      const wrote = row.status === 'ok' || row.status === 'conflict'
      const changed = wrote && row.reason !== REASON.sameContent && row.reason !== REASON.alreadyDeleted
      expect(sm.revision).toBe(changed ? mid + 1 : mid)
      expect(result.version).toBe(changed ? mid + 1 : (sm.get(PATH)?.version ?? 0))
      const copyName = conflictName(row.command === 'rename-onto-live' ? 'docs/taken.txt' : PATH, 'peerA', at)
      if (row.keptAs === 'conflict') {
        expect(result.keptAs).toBe(copyName)
        expect(contentOf(sm.get(copyName))).toBe('v3')
        expect(sm.conflicts().map(e => e.path)).toEqual([copyName])
      } else if (row.keptAs === 'target') {
        expect(result.keptAs).toBe('docs/moved.txt')
        expect(contentOf(sm.get('docs/moved.txt'))).toBe('v2')
      } else if (row.keptAs === 'target-conflict') {
        expect(result.keptAs).toBe(copyName)
        expect(contentOf(sm.get(copyName))).toBe('v2')
        expect(sm.get('docs/taken.txt')?.origin).toBe('peerC')
      } else {
        expect(result.keptAs).toBeUndefined()
        expect(sm.conflicts()).toEqual([])
      }
      expect(before).toBeLessThanOrEqual(mid)
    })
  }
})

describe('conflict decisions (pure)', () => {
  const live: CatalogEntry = { path: 'a', version: 5, size: 10, mode: 0o644, mtimeMs: 0, chunks: [], rootHash: 'f'.repeat(64), deleted: false, origin: 'p', changedAtMs: 0 }
  const tomb: CatalogEntry = { ...live, deleted: true, size: 0 }
  const facts = { base: 4, delta: false, size: 10, mode: 0o644, rootHash: 'e'.repeat(64) }
  it('put', () => {
    expect(decidePut(undefined, { ...facts, base: 0 }).action).toBe('write')
    expect(decidePut(live, { ...facts, base: 5 }).action).toBe('write')
    expect(decidePut(live, facts).action).toBe('copy')
    expect(decidePut(live, { ...facts, delta: true }).action).toBe('resubmit-full')
    expect(decidePut(live, { ...facts, rootHash: live.rootHash }).action).toBe('noop')
    // Same bytes but another mode is a real change.
    expect(decidePut(live, { ...facts, rootHash: live.rootHash, mode: 0o755 }).action).toBe('copy')
    expect(decidePut(tomb, facts)).toEqual({ action: 'write', reason: REASON.deletedMeanwhile })
    expect(decidePut(tomb, { ...facts, base: 5 })).toEqual({ action: 'write' })
    // A base from the future (a confused writer) is stale too.
    expect(decidePut(live, { ...facts, base: 9 }).action).toBe('copy')
  })
  it('delete', () => {
    expect(decideDelete(undefined, 0).action).toBe('refuse')
    expect(decideDelete(live, 5).action).toBe('delete')
    expect(decideDelete(live, 4)).toEqual({ action: 'refuse', reason: REASON.modifiedMeanwhile })
    expect(decideDelete(tomb, 4).action).toBe('noop')
  })
  it('rename', () => {
    expect(decideRename(live, 5, undefined).action).toBe('move')
    expect(decideRename(live, 5, tomb).action).toBe('move')
    expect(decideRename(live, 5, live).action).toBe('copy')
    expect(decideRename(live, 4, undefined).action).toBe('refuse')
    expect(decideRename(tomb, 5, undefined).action).toBe('refuse')
    expect(decideRename(undefined, 0, undefined).action).toBe('refuse')
  })
})
