import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { CatalogStateMachine, applyEdits, isConflictPath } from '../../src/sync/catalog.js'
import { EMPTY_ROOT_HASH, rootHashOf } from '../../src/sync/catalog-types.js'
import type { CatalogChange } from '../../src/sync/catalog.js'
import type { CatalogPage, CatalogStats } from '../../src/sync/catalog-types.js'
import { CatalogSnapshotError } from '../../src/sync/errors.js'
import { conflictName } from '../../src/sync/paths.js'
import { chunk, chunks, ctx, put } from './catalog-fixtures.js'

const T = 1_700_000_000_000

describe('rootHashOf', () => {
  it('is SHA-256 over the raw ids in order; the empty file hashes nothing', () => {
    expect(EMPTY_ROOT_HASH).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
    const [a, b] = [chunk('a'), chunk('b')]
    expect(rootHashOf([a, b])).not.toBe(rootHashOf([b, a]))
    expect(rootHashOf([a])).toBe(createHash('sha256').update(Buffer.from(a.id, 'hex')).digest('hex'))
  })
})

describe('CatalogStateMachine', () => {
  it('a put creates an entry stamped with the revision, the origin and the proposal time', () => {
    const sm = new CatalogStateMachine()
    const list = chunks('x', 8)
    expect(sm.apply(put('a/b.txt', 0, list, 'peerA'), ctx(T + 7))).toEqual({ status: 'ok', version: 1, path: 'a/b.txt' })
    const e = sm.get('a/b.txt')
    expect(e).toMatchObject({ path: 'a/b.txt', version: 1, size: 8000, mode: 0o644, deleted: false, origin: 'peerA', changedAtMs: T + 7, rootHash: rootHashOf(list) })
    expect(e?.chunks).toEqual(list)
    expect(sm.stats).toEqual({ revision: 1, files: 1, bytes: 8000, tombstones: 0, conflicts: 0 })
  })

  it('refuses invalid paths, origins, mismatched sizes and root hashes, and bad chunk refs, deterministically and without a change', () => {
    const sm = new CatalogStateMachine()
    const list = chunks('x', 2)
    const cases: Array<[unknown, RegExp]> = [
      [put('../etc/passwd', 0, list), /".."/],
      [put('.vpeer-tmp', 0, list), /reserved/],
      [put('a', 0, list, ''), /origin/],
      [put('a', 0, list, 'x'.repeat(129)), /origin/],
      [{ ...put('a', 0, list), size: 1 }, /sum of the chunk sizes/],
      [{ ...put('a', 0, list), rootHash: 'a'.repeat(64) }, /rootHash does not match/],
      [{ ...put('a', 0, list), rootHash: 'nothex' }, /rootHash/],
      [put('a', 0, [{ id: 'A'.repeat(64), size: 1 }]), /chunk id/],
      [put('a', 0, [{ id: 'a'.repeat(64), size: 0 }]), /chunk size/],
      [{ ...put('a', 0, list), content: { delta: [{ at: 1, remove: 0, insert: [] }] } }, /past the base/],
      [{ ...put('a', 0, list), base: -1 }, /base/],
      [{ type: 'delete', path: 'a/', base: 0, origin: 'p' }, /empty segment/],
      [{ type: 'rename', from: 'a', to: 'a', base: 0, origin: 'p' }, /same path/],
      [{ type: 'chmod', path: 'a' }, /unknown command/],
      [null, /unknown command/]
    ]
    for (const [command, reason] of cases) {
      const result = sm.apply(command as never, ctx())
      expect(result.status, JSON.stringify(command)).toBe('refused')
      expect(result.reason, JSON.stringify(command)).toMatch(reason)
    }
    expect(sm.revision).toBe(0)
  })

  it('a delta put of 3 changed chunks in a 640-chunk file rebuilds the new list', () => {
    const sm = new CatalogStateMachine()
    const base = chunks('big', 640, 16 * 1024)
    sm.apply(put('big.bin', 0, base), ctx())
    const next = [...base]
    const edits = [{ at: 10, remove: 1, insert: [chunk('n10', 16 * 1024)] }, { at: 300, remove: 1, insert: [chunk('n300', 16 * 1024)] }, { at: 639, remove: 1, insert: [chunk('n639', 10)] }]
    for (const e of edits) next.splice(e.at, e.remove, ...e.insert)
    const command = { ...put('big.bin', 1, next), content: { delta: edits } }
    expect(sm.apply(command, ctx())).toEqual({ status: 'ok', version: 2, path: 'big.bin' })
    expect(sm.get('big.bin')?.chunks).toEqual(next)
    // A delta that does not give the stated root hash is refused.
    expect(sm.apply({ ...command, base: 2, rootHash: rootHashOf(base) }, ctx()).reason).toMatch(/rootHash/)
  })

  it('applyEdits matches splicing in order, for edits in base positions', () => {
    fc.assert(fc.property(fc.nat({ max: 30 }), fc.array(fc.tuple(fc.nat({ max: 5 }), fc.nat({ max: 3 }), fc.nat({ max: 3 })), { maxLength: 6 }), (n, raw) => {
      const base = chunks('b', n)
      let pos = 0
      const edits = []
      for (const [gap, remove, insert] of raw) {
        const at = pos + gap
        if (at + remove > n) break
        edits.push({ at, remove, insert: chunks(`i${at}`, insert) })
        pos = at + remove
      }
      const model = [...base]
      for (const e of [...edits].reverse()) model.splice(e.at, e.remove, ...e.insert)
      expect(applyEdits(base, edits)).toEqual(model)
    }))
    expect(applyEdits(chunks('b', 4), [{ at: 2, remove: 1, insert: [] }, { at: 1, remove: 0, insert: [] }])).toMatch(/order/)
  })

  it('conflict copies take attempt 2, 3, … while the name is taken by a live file, and are listed as conflicts', () => {
    const sm = new CatalogStateMachine()
    sm.apply(put('f.txt', 0, chunks('a', 1)), ctx(T))
    const names = []
    for (let i = 0; i < 3; i++) {
      const r = sm.apply(put('f.txt', 0, chunks(`c${i}`, 1), 'peerB'), ctx(T))
      expect(r.status).toBe('conflict')
      names.push(r.keptAs)
    }
    expect(names).toEqual([1, 2, 3].map(a => conflictName('f.txt', 'peerB', T, a)))
    expect(sm.conflicts().map(e => e.path)).toEqual([...names].sort())
    expect(sm.stats.conflicts).toBe(3)
    // A deleted conflict copy frees its name and leaves the list.
    const first = sm.get(names[0] as string)
    sm.apply({ type: 'delete', path: names[0] as string, base: first?.version ?? 0, origin: 'peerA' }, ctx(T))
    expect(sm.stats.conflicts).toBe(2)
    expect(sm.apply(put('f.txt', 0, chunks('c9', 1), 'peerB'), ctx(T)).keptAs).toBe(names[0])
    expect(isConflictPath('dir/f.txt')).toBe(false)
    expect(isConflictPath(conflictName('dir/.bashrc', 'p', T, 4))).toBe(true)
  })

  it('refuses a path that would be both a file and a directory', () => {
    const sm = new CatalogStateMachine()
    sm.apply(put('a/b', 0, chunks('x', 1)), ctx())
    expect(sm.apply(put('a', 0, chunks('y', 1)), ctx()).reason).toMatch(/directory of files/)
    expect(sm.apply(put('a/b/c', 0, chunks('y', 1)), ctx()).reason).toMatch(/in the way/)
    expect(sm.apply({ type: 'rename', from: 'a/b', to: 'a/b/c', base: 1, origin: 'p' }, ctx()).status).toBe('ok')
    // A rename may go under its own source (the source stops being a file as it moves).
    expect(sm.get('a/b/c')?.deleted).toBe(false)
    expect(sm.get('a/b')?.deleted).toBe(true)
  })

  it('list pages in path order, by prefix, skipping tombstones unless asked', () => {
    const sm = new CatalogStateMachine()
    for (const p of ['d/3', 'd/1', 'e/1', 'd/2', 'c', 'd/0']) sm.apply(put(p, 0, chunks(p, 1)), ctx())
    sm.apply({ type: 'delete', path: 'd/2', base: 4, origin: 'p' }, ctx())
    const page1 = sm.query({ type: 'list', limit: 2, prefix: 'd/' }) as CatalogPage
    expect(page1.entries.map(e => e.path)).toEqual(['d/0', 'd/1'])
    expect(page1.next).toBe('d/1')
    const page2 = sm.list({ limit: 2, prefix: 'd/', after: page1.next as string })
    expect(page2.entries.map(e => e.path)).toEqual(['d/3'])
    expect(page2.next).toBeUndefined()
    expect(sm.list({ limit: 10, prefix: 'd/', deleted: true }).entries.map(e => e.path)).toEqual(['d/0', 'd/1', 'd/2', 'd/3'])
    expect(sm.list({ limit: 10 }).entries.map(e => e.path)).toEqual(['c', 'd/0', 'd/1', 'd/3', 'e/1'])
    expect(sm.list({ limit: 10, after: 'a' }).entries).toHaveLength(5)
    expect(() => sm.list({ limit: 10_001 })).toThrow(/limit/)
    expect(() => sm.list({ limit: 0 })).toThrow(/limit/)
    expect((sm.query({ type: 'stats' }) as CatalogStats).files).toBe(5)
    expect(sm.query({ type: 'revision' })).toBe(7)
    expect(sm.query({ type: 'get', path: 'nope' })).toBeNull()
    expect([...sm.entries()].map(e => e.path)).toEqual(['c', 'd/0', 'd/1', 'd/3', 'e/1'])
    expect(sm.changedSince(5).map(e => e.path)).toEqual(['d/0', 'd/2'])
  })

  it('tells listeners which paths changed at which revision, and survives a throwing listener', () => {
    const errors: unknown[] = []
    const sm = new CatalogStateMachine({ onListenerError: e => { errors.push(e) } })
    const seen: CatalogChange[] = []
    sm.onChange(() => { throw new Error('listener bug') })
    const off = sm.onChange(c => { seen.push(c) })
    sm.apply(put('a', 0, chunks('a', 1)), ctx())
    sm.apply({ type: 'rename', from: 'a', to: 'b', base: 1, origin: 'p' }, ctx())
    sm.apply({ type: 'delete', path: 'zzz', base: 0, origin: 'p' }, ctx()) // refused: no change, no call
    sm.restore(sm.snapshot())
    off()
    sm.apply(put('c', 0, chunks('c', 1)), ctx())
    expect(seen).toEqual([{ kind: 'apply', revision: 1, paths: ['a'] }, { kind: 'apply', revision: 2, paths: ['a', 'b'] }, { kind: 'restore', revision: 2 }])
    expect(errors).toHaveLength(4)
  })
})

describe('catalog snapshots', () => {
  function sample (): CatalogStateMachine {
    const sm = new CatalogStateMachine()
    sm.apply(put('x/ü.txt', 0, chunks('u', 3)), ctx(T))
    sm.apply(put('x/a.txt', 0, chunks('a', 2), 'peerB'), ctx(T + 1))
    sm.apply(put('x/a.txt', 0, chunks('b', 2), 'peerC'), ctx(T + 2))
    sm.apply({ type: 'delete', path: 'x/ü.txt', base: 1, origin: 'peerA' }, ctx(T + 3))
    sm.apply(put('empty', 0, []), ctx(T + 4))
    return sm
  }

  it('restore gives an equal state, equal bytes, and the derived counters', () => {
    const sm = sample()
    const bytes = sm.snapshot()
    const copy = new CatalogStateMachine()
    copy.restore(bytes)
    expect(copy.snapshot()).toEqual(bytes)
    expect([...copy.entries({ deleted: true })]).toEqual([...sm.entries({ deleted: true })])
    expect(copy.stats).toEqual(sm.stats)
    expect(copy.conflicts()).toEqual(sm.conflicts())
  })

  it('pins the snapshot bytes (replicas restore each other\'s snapshots: a change is a new format)', () => {
    const id = (digit: string): string => digit.repeat(64)
    const list = [{ id: id('1'), size: 2 }, { id: id('2'), size: 300 }]
    const sm = new CatalogStateMachine()
    sm.apply({ type: 'put', path: 'docs/é.txt', base: 0, size: 302, mode: 0o644, mtimeMs: T, origin: 'peerA', rootHash: rootHashOf(list), content: { full: list } }, ctx(T + 1))
    sm.apply({ type: 'put', path: 'gone', base: 0, size: 0, mode: 0, mtimeMs: 5, origin: 'q', rootHash: EMPTY_ROOT_HASH, content: { full: [] } }, ctx(6))
    sm.apply({ type: 'delete', path: 'gone', base: 2, origin: 'q' }, ctx(9))
    const hex = '56504354' + '01' + '03' + '02' +
      // live: path deleted version origin changedAtMs size mode mtimeMs count (id size)×2
      '0b646f63732fc3a92e747874' + '00' + '01' + '057065657241' + '81d095ffbc31' + 'ae02' + 'a403' + '80d095ffbc31' + '02' + id('1') + '02' + id('2') + 'ac02' +
      // tombstone: path deleted version origin changedAtMs
      '04676f6e65' + '01' + '03' + '0171' + '09'
    expect(Buffer.from(sm.snapshot()).toString('hex')).toBe(hex)
    const copy = new CatalogStateMachine()
    copy.restore(Buffer.from(hex, 'hex'))
    expect(copy.get('docs/é.txt')?.chunks).toEqual(list)
    expect(copy.stats).toEqual(sm.stats)
  })

  it('a capture is O(1) and serializes later to the bytes of the moment it was taken', () => {
    const sm = sample()
    const then = sm.snapshot()
    const captured = sm.capture()
    sm.apply(put('later', 0, chunks('l', 1)), ctx())
    sm.apply({ type: 'delete', path: 'empty', base: 5, origin: 'p' }, ctx())
    expect(captured()).toEqual(then)
    expect(sm.snapshot()).not.toEqual(then)
  })

  it('corrupt bytes throw CatalogSnapshotError and leave the state unchanged (every truncation, every flipped byte)', () => {
    const target = sample()
    const good = target.snapshot()
    const victim = new CatalogStateMachine()
    victim.apply(put('keep', 0, chunks('k', 1)), ctx())
    const before = victim.snapshot()
    let refused = 0
    const attempt = (bytes: Uint8Array): void => {
      try {
        victim.restore(bytes)
        // A mutation that still parses (a changed size digit that matches, a mode, a time) is a
        // valid, different catalog: put the victim back.
        victim.restore(before)
      } catch (error) {
        expect(error).toBeInstanceOf(CatalogSnapshotError)
        expect((error as CatalogSnapshotError).code).toBe('ERR_CATALOG_SNAPSHOT')
        refused++
        expect(victim.snapshot()).toEqual(before)
      }
    }
    for (let n = 0; n < good.length; n++) attempt(good.subarray(0, n))
    for (let i = 0; i < good.length; i++) attempt(good.map((b, j) => (j === i ? b ^ 0x80 : b)))
    attempt(new Uint8Array([...good, 0]))
    expect(refused).toBeGreaterThan(good.length)
    expect(victim.snapshot()).toEqual(before)
  })

  it('refuses unsorted or duplicate paths, versions above the revision and invalid paths', () => {
    const one = new CatalogStateMachine()
    one.apply(put('b', 0, chunks('b', 1)), ctx())
    one.apply(put('a', 0, chunks('a', 1)), ctx())
    const bytes = one.snapshot()
    const text = Buffer.from(bytes)
    // Swap the two paths' single letters: order broken.
    const swapped = Buffer.from(text)
    const ia = text.indexOf('a'.charCodeAt(0), 6)
    const ib = text.indexOf('b'.charCodeAt(0), 6)
    swapped[ia] = 0x62
    swapped[ib] = 0x61
    expect(() => new CatalogStateMachine().restore(swapped)).toThrow(/strictly increasing/)
    const dup = Buffer.from(text)
    dup[ib] = 0x61
    expect(() => new CatalogStateMachine().restore(dup)).toThrow(/strictly increasing/)
    const badPath = Buffer.from(text)
    badPath[ia] = 0x3f // '?'
    expect(() => new CatalogStateMachine().restore(badPath)).toThrow(/path/)
    const lowRevision = Buffer.from(text)
    lowRevision[5] = 1 // revision 1 < the versions 2
    expect(() => new CatalogStateMachine().restore(lowRevision)).toThrow(/version/)
  })
})
