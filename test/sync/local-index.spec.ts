import { describe, expect, it } from 'vitest'
import { MemoryFileSystem } from '../../src/sync/memory-fs.js'
import { FaultyFileSystem } from '../../src/sync/faulty-fs.js'
import { LocalIndex, LocalIndexCorruptError } from '../../src/sync/local-index.js'
import type { LocalEntry } from '../../src/sync/local-index.js'
import { DiskFullError } from '../../src/sync/errors.js'

const id = (n: number): string => n.toString(16).padStart(64, '0')
function entry (path: string, n: number): LocalEntry {
  return { path, size: 10, mtimeMs: 1000 + n, ctimeMs: 2000 + n, ino: n, mode: 0o644, chunks: [{ id: id(n), size: 10 }], rootHash: id(n + 1), version: n, racy: false }
}

async function bytesOf (fs: MemoryFileSystem, path: string): Promise<Uint8Array> {
  const s = await fs.stat(path)
  const f = await fs.openRead(path)
  try { return await f.read(0, s!.size) } finally { await f.close() }
}

async function overwrite (fs: MemoryFileSystem, path: string, bytes: Uint8Array): Promise<void> {
  const f = await fs.openWrite(path)
  await f.write(bytes)
  await f.sync()
  await f.close()
}

describe('LocalIndex', () => {
  it('survives a crash with every flushed change, none unflushed, and compacts', async () => {
    const fs = new MemoryFileSystem()
    const index = await LocalIndex.open(fs, '/state', { compactMinBytes: 2000 })
    for (let i = 0; i < 50; i++) index.set(entry(`f${i}`, i))
    await index.flush()
    index.delete('f3')
    index.set({ ...entry('f4', 4), version: 99 })
    await index.flush()
    index.set(entry('unflushed', 7))
    fs.crash()
    const again = await LocalIndex.open(fs, '/state')
    expect(again.size).toBe(49)
    expect(again.get('f3')).toBeUndefined()
    expect(again.get('f4')?.version).toBe(99)
    expect(again.get('unflushed')).toBeUndefined()
    expect(again.get('f10')).toEqual(entry('f10', 10))
    const files = (await fs.readdir('/state')).map(e => e.name).sort()
    expect(files.filter(n => n.startsWith('index.journal.'))).toHaveLength(1) // old generations gone
    await again.close()
  })

  it('a flush appends only what changed (the journal, not the whole index)', async () => {
    const fs = new MemoryFileSystem()
    const faulty = new FaultyFileSystem(fs)
    const index = await LocalIndex.open(faulty, '/state')
    for (let i = 0; i < 2000; i++) index.set(entry(`dir/file-${i}`, i))
    await index.flush()
    const before = faulty.counters.bytesWritten
    index.set({ ...entry('dir/file-7', 7), version: 8 })
    await index.flush()
    expect(faulty.counters.bytesWritten - before).toBeLessThan(1000)
    await index.close()
    const again = await LocalIndex.open(fs, '/state')
    expect(again.get('dir/file-7')?.version).toBe(8)
    expect(again.size).toBe(2000)
  })

  it('drops a torn last journal record, but a damaged record before a good one is corruption', async () => {
    const fs = new MemoryFileSystem()
    const index = await LocalIndex.open(fs, '/state')
    index.set(entry('a', 1))
    await index.flush()
    index.set(entry('b', 2))
    await index.flush()
    const journal = (await fs.readdir('/state')).find(e => e.name.startsWith('index.journal.'))!.name
    const bytes = await bytesOf(fs, `/state/${journal}`)
    // Torn: the second record cut in half.
    await overwrite(fs, `/state/${journal}`, bytes.subarray(0, bytes.length - 20))
    const torn = await LocalIndex.open(fs, '/state')
    expect(torn.get('a')).toBeDefined()
    expect(torn.get('b')).toBeUndefined()
    torn.set(entry('c', 3))
    await torn.flush()
    torn.set(entry('d', 4))
    await torn.flush()
    const journal2 = (await fs.readdir('/state')).find(e => e.name.startsWith('index.journal.'))!.name
    const bytes2 = (await bytesOf(fs, `/state/${journal2}`)).slice()
    bytes2[30] = bytes2[30]! ^ 1 // a bit flip in the first of two records
    await overwrite(fs, `/state/${journal2}`, bytes2)
    await expect(LocalIndex.open(fs, '/state')).rejects.toBeInstanceOf(LocalIndexCorruptError)
  })

  it('a damaged snapshot throws by default, or rebuilds empty and says why', async () => {
    const fs = new MemoryFileSystem()
    const index = await LocalIndex.open(fs, '/state')
    for (let i = 0; i < 5; i++) index.set(entry(`f${i}`, i))
    await index.close()
    await (await LocalIndex.open(fs, '/state')).close() // compacts the journal into the snapshot
    const snap = (await bytesOf(fs, '/state/index.snapshot')).slice()
    snap[snap.length - 200] = snap[snap.length - 200]! ^ 0x20
    await overwrite(fs, '/state/index.snapshot', snap)
    await expect(LocalIndex.open(fs, '/state')).rejects.toBeInstanceOf(LocalIndexCorruptError)
    const rebuilt = await LocalIndex.open(fs, '/state', { onCorrupt: 'rebuild' })
    expect(rebuilt.size).toBe(0)
    expect(rebuilt.recovered).toMatch(/local index/)
    expect((await fs.readdir('/state')).some(e => e.name.includes('.corrupt-'))).toBe(true)
  })

  it('a full disk is a DiskFullError; the changes stay and land once space returns', async () => {
    const fs = new MemoryFileSystem()
    const faulty = new FaultyFileSystem(fs)
    const index = await LocalIndex.open(faulty, '/state')
    index.set(entry('a', 1))
    faulty.diskFull(5)
    await expect(index.flush()).rejects.toBeInstanceOf(DiskFullError)
    faulty.diskFull(Number.POSITIVE_INFINITY)
    index.set(entry('b', 2))
    await index.flush()
    await index.close()
    const again = await LocalIndex.open(fs, '/state')
    expect([...again.paths()].sort()).toEqual(['a', 'b'])
  })

  it('refuses to record an invalid entry', async () => {
    const index = await LocalIndex.open(new MemoryFileSystem(), '/state')
    expect(() => index.set({ ...entry('../x', 1) })).toThrow(/bad path/)
    expect(() => index.set({ ...entry('a', 1), size: 11 })).toThrow(/add up/)
  })
})
