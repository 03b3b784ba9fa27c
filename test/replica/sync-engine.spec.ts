import { afterEach, describe, expect, it } from 'vitest'
import { FaultyFileSystem } from '../../src/sync/faulty-fs.js'
import { converge, hosts, ROOT } from './engine-harness.js'
import type { Host } from './engine-harness.js'
import { deltaOf } from '../../src/replica/sync-engine.js'

let running: Host[] = []
afterEach(async () => {
  for (const h of running) await h.stop()
  running = []
})

async function start<N extends string[]> (...names: N): Promise<{ [K in keyof N]: Host }> {
  const made = await hosts(names)
  for (const h of made.hosts) await h.start()
  running = made.hosts
  return made.hosts as { [K in keyof N]: Host }
}

function conflictCopies (files: Record<string, string>): string[] {
  return Object.keys(files).filter(p => p.includes('.conflict-')).sort()
}

describe('sync engine (hosts sharing one log)', () => {
  it('four hosts with one different file each: all four everywhere', async () => {
    const list = await start('c1', 'c2', 'c3', 'c4')
    list.forEach((h, i) => { h.write(`F${i + 1}.txt`, `content of F${i + 1} from ${h.name}`) })
    await converge(list)
    const expected = { 'F1.txt': 'content of F1 from c1', 'F2.txt': 'content of F2 from c2', 'F3.txt': 'content of F3 from c3', 'F4.txt': 'content of F4 from c4' }
    for (const h of list) expect(await h.files(), h.name).toEqual(expected)
    for (const h of list) expect(h.engine.status().idle, h.name).toBe(true)
  })

  it('many files in nested directories land together (several at a time), every one intact', async () => {
    const [a, b] = await start('a', 'b')
    const expected: Record<string, string> = {}
    for (let i = 0; i < 24; i++) {
      const path = `d${i % 3}/sub${i % 2}/f${i}.txt`
      expected[path] = `file ${i} `.repeat(1 + i * 13)
      a.write(path, expected[path])
    }
    // Same name but for case: lands beside its twin here (a case-sensitive disk), one after the other.
    a.write('d0/Case.txt', 'upper')
    a.write('d0/case.txt', 'lower')
    expected['d0/Case.txt'] = 'upper'
    expected['d0/case.txt'] = 'lower'
    await converge([a, b])
    expect(await b.files()).toEqual(expected)
    expect(b.engine.status().landed).toBe(26)
    expect(b.engine.status().problems).toEqual([])
  })

  it('concurrent edits of one file: the file plus exactly one conflict copy, the same on every host', async () => {
    const [a, b, c] = await start('a', 'b', 'c')
    a.write('doc.txt', 'v1')
    await converge([a, b, c])
    // Both edit the same version before seeing each other's change.
    a.write('doc.txt', 'edited on a')
    b.write('doc.txt', 'edited on b, longer')
    await a.pass()
    await b.pass()
    await converge([a, b, c])
    const files = await a.files()
    expect(files['doc.txt']).toBe('edited on a')
    const copies = conflictCopies(files)
    expect(copies).toHaveLength(1)
    expect(files[copies[0] as string]).toBe('edited on b, longer')
    expect(copies[0]).toMatch(/^doc\.conflict-peerb-\d{8}-\d{6}\.txt$/)
    expect(await b.files()).toEqual(files)
    expect(await c.files()).toEqual(files)
  })

  it('deletes and renames propagate; a delete never destroys a concurrent edit', async () => {
    const [a, b] = await start('a', 'b')
    a.write('keep.txt', 'keep')
    a.write('dir/old-name.txt', 'moving')
    a.write('gone.txt', 'bye')
    a.write('contested.txt', 'base')
    await converge([a, b])
    await a.mem.unlink(`${ROOT}/gone.txt`)
    await a.mem.rename(`${ROOT}/dir/old-name.txt`, `${ROOT}/new-name.txt`)
    await converge([a, b])
    expect(await b.files()).toEqual({ 'keep.txt': 'keep', 'new-name.txt': 'moving', 'contested.txt': 'base' })
    // b edits what a deletes, concurrently: the edit survives everywhere.
    b.write('contested.txt', 'edited while a deleted it')
    await a.mem.unlink(`${ROOT}/contested.txt`)
    await b.pass()
    await a.pass()
    await converge([a, b])
    expect((await a.files())['contested.txt']).toBe('edited while a deleted it')
    expect(await a.files()).toEqual(await b.files())
  })

  it('an offline host catches up with everything it missed, and its own changes go out', async () => {
    const [a, b, c] = await start('a', 'b', 'c')
    a.write('F1', 'one')
    await converge([a, b, c])
    c.online = false
    a.write('F2', 'two')
    b.write('F1', 'one, edited on b')
    await converge([a, b])
    c.write('F3', 'written offline on c')
    c.online = true
    await converge([a, b, c])
    const expected = { F1: 'one, edited on b', F2: 'two', F3: 'written offline on c' }
    for (const h of [a, b, c]) expect(await h.files(), h.name).toEqual(expected)
  })

  it('a host that receives a catalog snapshot instead of the log reconciles every path', async () => {
    const [a, b] = await start('a', 'b')
    a.write('kept.txt', 'kept')
    a.write('dropped.txt', 'dropped')
    await converge([a, b])
    b.online = false
    a.write('new/deep.txt', 'new while b was away')
    a.write('kept.txt', 'kept, edited')
    await a.mem.unlink(`${ROOT}/dropped.txt`)
    await a.pass()
    b.online = true
    b.installSnapshotOf(a)
    await converge([a, b])
    expect(await b.files()).toEqual({ 'kept.txt': 'kept, edited', 'new/deep.txt': 'new while b was away' })
  })

  it('a local edit made during a download becomes a conflict copy, never a loss', async () => {
    const [a, b] = await start('a', 'b')
    a.write('note.txt', 'v1')
    await converge([a, b])
    a.write('note.txt', 'v2 from a')
    await a.pass()
    // b edits its copy while it downloads a's version.
    b.duringFetch = () => { b.write('note.txt', 'local edit on b during the download'); b.duringFetch = undefined }
    await b.pass()
    await converge([a, b])
    const files = await b.files()
    expect(files['note.txt']).toBe('v2 from a')
    const copies = conflictCopies(files)
    expect(copies.map(p => files[p])).toEqual(['local edit on b during the download'])
    expect(await a.files()).toEqual(files)
  })

  it('a full disk during landing is reported, corrupts nothing, and resumes when space returns', async () => {
    const [a, b] = await start('a', 'b')
    a.write('small.txt', 'fits')
    await converge([a, b])
    const faulty = new FaultyFileSystem(b.mem)
    b.fs = faulty
    ;(b.engine as unknown as { o: { fs: unknown } }).o.fs = faulty
    faulty.diskFull(4)
    a.write('big.txt', 'x'.repeat(100))
    a.write('small.txt', 'changed too, and longer than before')
    await a.pass()
    await b.pass()
    expect(b.engine.status().problems.map(p => p.path).sort()).toEqual(['big.txt', 'small.txt'])
    // Nothing torn: the old version is intact, the new file absent, no temporary left.
    expect(await b.files()).toEqual({ 'small.txt': 'fits' })
    faulty.freeSpace()
    await converge([a, b])
    expect(await b.files()).toEqual(await a.files())
    expect(b.engine.status().problems).toEqual([])
  })

  it('sends only the changed chunks of a large file (a delta put)', () => {
    const ref = (n: number): { id: string, size: number } => ({ id: n.toString(16).padStart(64, '0'), size: 4 })
    const base = Array.from({ length: 640 }, (_, i) => ref(i))
    const edited = [...base.slice(0, 300), ref(9001), ref(9002), ...base.slice(302)]
    expect(deltaOf(base, edited)).toEqual([{ at: 300, remove: 2, insert: [ref(9001), ref(9002)] }])
    expect(deltaOf(base, [...base, ref(7000)])).toEqual([{ at: 640, remove: 0, insert: [ref(7000)] }])
    expect(deltaOf([ref(1)], [ref(2)])).toBeUndefined()
  })
})
