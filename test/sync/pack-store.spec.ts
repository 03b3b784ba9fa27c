import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { chunkIdOf } from '../../src/sync/chunk.js'
import type { ChunkId } from '../../src/sync/chunk.js'
import { collectGarbage, FsChunkStore } from '../../src/sync/chunk-store.js'
import { CorruptChunkError, DiskFullError, MissingChunkError } from '../../src/sync/errors.js'
import { FaultyFileSystem, InjectedCrashError } from '../../src/sync/faulty-fs.js'
import { NodeFileSystem } from '../../src/sync/fs.js'
import { MemoryFileSystem } from '../../src/sync/memory-fs.js'
import { indexCodec, PackChunkStore } from '../../src/sync/pack-store.js'

function chunk (seed: number, size = 1000): { id: ChunkId, bytes: Uint8Array } {
  const bytes = new Uint8Array(size)
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + seed * 7 + (i >> 8) + seed * (i >> 4)) & 0xff
  return { id: chunkIdOf(bytes), bytes }
}

async function all (ids: AsyncIterable<ChunkId>): Promise<ChunkId[]> {
  const out: ChunkId[] = []
  for await (const id of ids) out.push(id)
  return out.sort()
}

function setup (): { mem: MemoryFileSystem, faulty: FaultyFileSystem } {
  const mem = new MemoryFileSystem()
  mem.mkdirSync('/store')
  return { mem, faulty: new FaultyFileSystem(mem) }
}

const names = async (mem: MemoryFileSystem): Promise<string[]> => (await mem.readdir('/store')).map(e => e.name).sort()

/** Calls `beforeWrite` (once set) before each write of a pack file. */
class HookedFileSystem extends MemoryFileSystem {
  beforeWrite: (() => Promise<void>) | undefined
  override async openWrite (path: string, options?: { exclusive?: boolean, mode?: number }): ReturnType<MemoryFileSystem['openWrite']> {
    const file = await super.openWrite(path, options)
    if (!path.endsWith('.vpk')) return file
    return {
      write: async (bytes: Uint8Array) => { await this.beforeWrite?.(); await file.write(bytes) },
      sync: async () => { await file.sync() },
      close: async () => { await file.close() }
    }
  }
}

const tempDirs: string[] = []
afterEach(() => { for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true }) })

describe('PackChunkStore', () => {
  it('puts queued together go out in one write; a second put of the same id waits for the first', async () => {
    const { faulty } = setup()
    const store = new PackChunkStore(faulty, '/store')
    await store.has(chunk(0).id)
    const chunks = Array.from({ length: 40 }, (_, i) => chunk(i))
    const writes = faulty.counters.calls.write
    await Promise.all([...chunks, chunks[0]!, chunks[1]!].map(async c => { await store.put(c.id, c.bytes) }))
    // 40 chunks of 1,000 bytes fit in one 1 MiB write (the first may go alone).
    expect(faulty.counters.calls.write - writes).toBeLessThanOrEqual(2)
    for (const c of chunks) expect(await store.get(c.id)).toEqual(c.bytes)
    expect(store.stats()).toMatchObject({ packs: 1, chunks: 40, storedBytes: 40_000, liveBytes: 40_000 })
  })

  it('seals packs at packBytesMax with an index; a restart reads the indexes, and scans a pack that has none', async () => {
    const { mem, faulty } = setup()
    const store = new PackChunkStore(faulty, '/store', { packBytesMax: 4000 })
    const chunks = Array.from({ length: 10 }, (_, i) => chunk(i))
    for (const c of chunks) await store.put(c.id, c.bytes)
    // Four records per pack (4 × 1,040 bytes ≥ 4,000 seals it): two sealed, the third active.
    expect(await names(mem)).toEqual(['pack-0000000001.idx', 'pack-0000000001.vpk', 'pack-0000000002.idx', 'pack-0000000002.vpk', 'pack-0000000003.vpk'])
    const reads = faulty.counters.calls.read
    const restarted = new PackChunkStore(faulty, '/store', { packBytesMax: 4000 })
    expect(await all(restarted.ids())).toEqual(chunks.map(c => c.id).sort())
    // Two index reads and one scan of two records (a header read each): no chunk data read.
    expect(faulty.counters.calls.read - reads).toBe(2 + 2)
    // The scanned pack was sealed at the restart; the restart writes its own pack from then on.
    expect(await names(mem)).toContain('pack-0000000003.idx')
    const more = chunk(99)
    await restarted.put(more.id, more.bytes)
    expect(await names(mem)).toContain('pack-0000000004.vpk')
    for (const c of [...chunks, more]) expect(await restarted.get(c.id)).toEqual(c.bytes)
  })

  it('a torn tail (a crash mid-write) is cut at the last whole record; damaged bytes are dropped at get', async () => {
    const { mem } = setup()
    const store = new PackChunkStore(mem, '/store')
    const [a, b, c] = [chunk(1), chunk(2), chunk(3)]
    for (const x of [a, b, c]) await store.put(x.id, x.bytes)
    await store.close()
    const pack = '/store/pack-0000000001.vpk'
    const bytes = mem.readFileSync(pack)
    await mem.unlink('/store/pack-0000000001.idx')
    // c's record cut in half; b's bytes flipped.
    const torn = bytes.slice(0, bytes.length - 500)
    torn[1040 + 40 + 10] = (torn[1040 + 40 + 10] as number) ^ 1
    mem.writeFileSync(pack, torn)
    const restarted = new PackChunkStore(mem, '/store')
    expect(await all(restarted.ids())).toEqual([a.id, b.id].sort())
    expect(await restarted.get(a.id)).toEqual(a.bytes)
    await expect(restarted.get(b.id)).rejects.toBeInstanceOf(CorruptChunkError)
    expect(await restarted.has(b.id)).toBe(false)
    await expect(restarted.get(c.id)).rejects.toBeInstanceOf(MissingChunkError)
    await restarted.put(b.id, b.bytes)
    expect(await restarted.get(b.id)).toEqual(b.bytes)
    // Garbage where a header should be stops the scan too; a damaged index is ignored (scanned).
    mem.writeFileSync('/store/pack-0000000009.vpk', new Uint8Array(100).fill(7))
    mem.writeFileSync('/store/pack-0000000009.idx', indexCodec.encode(0, []).subarray(0, 20))
    const again = new PackChunkStore(mem, '/store')
    expect(await all(again.ids())).toEqual([a.id, b.id].sort())
  })

  it('the index codec refuses anything but a whole, intact index', () => {
    const entries = [{ id: chunk(1).id, offset: 40, size: 1000 }, { id: chunk(2).id, offset: 1080, size: 1000 }]
    const bytes = indexCodec.encode(2080, entries)
    expect(indexCodec.decode(bytes)).toEqual({ packBytes: 2080, entries })
    for (let i = 0; i < bytes.length; i += 7) {
      const flipped = bytes.slice()
      flipped[i] = (flipped[i] as number) ^ 0x10
      expect(indexCodec.decode(flipped)).toBeUndefined()
    }
    expect(indexCodec.decode(bytes.subarray(0, bytes.length - 1))).toBeUndefined()
    // An entry beyond the pack's length.
    expect(indexCodec.decode(indexCodec.encode(1000, entries))).toBeUndefined()
  })

  it('after a crash at any point a chunk is lost or refused, never served wrong', async () => {
    const chunks = Array.from({ length: 12 }, (_, i) => chunk(i, 900 + 37 * i))
    const total = chunks.reduce((s, c) => s + c.bytes.length + 40, 0)
    for (const metadataFirst of [false, true]) {
      for (let crashAt = 0; crashAt <= total + 2000; crashAt += 701) {
        const { mem, faulty } = setup()
        const store = new PackChunkStore(faulty, '/store', { packBytesMax: 3000, writeBytesMax: 2500 })
        faulty.crashAfterBytes(crashAt, () => {})
        try {
          for (const c of chunks) await store.put(c.id, c.bytes)
          await store.close()
        } catch (error) {
          expect(error).toBeInstanceOf(InjectedCrashError)
        }
        if (metadataFirst) await mem.syncDir('/store')
        mem.crash()
        faulty.recover()
        const restarted = new PackChunkStore(faulty, '/store', { packBytesMax: 3000 })
        for (const id of await all(restarted.ids())) {
          const c = chunks.find(x => x.id === id)
          expect(c, `never put: ${id}`).toBeDefined()
          const got = await restarted.get(id).catch((e: unknown) => e)
          if (got instanceof Uint8Array) expect(got).toEqual(c!.bytes)
          else expect(got).toBeInstanceOf(CorruptChunkError)
        }
        // Whatever survived, the store takes every chunk again and serves it.
        for (const c of chunks) await restarted.put(c.id, c.bytes)
        for (const c of chunks) expect(await restarted.get(c.id)).toEqual(c.bytes)
      }
    }
  })

  it('a full disk fails the batch with DiskFullError, keeps what was stored, and works again with space', async () => {
    const { faulty } = setup()
    const store = new PackChunkStore(faulty, '/store')
    const [a, b, c] = [chunk(1), chunk(2), chunk(3)]
    await store.put(a.id, a.bytes)
    faulty.diskFull(100)
    await expect(store.put(b.id, b.bytes)).rejects.toBeInstanceOf(DiskFullError)
    expect(await store.has(b.id)).toBe(false)
    // The pack with the failed write was sealed; a new one starts (and fails while the disk is full).
    await expect(store.put(c.id, c.bytes)).rejects.toBeInstanceOf(DiskFullError)
    faulty.freeSpace()
    await store.put(b.id, b.bytes)
    await store.put(c.id, c.bytes)
    for (const x of [a, b, c]) expect(await store.get(x.id)).toEqual(x.bytes)
    await store.close()
    const restarted = new PackChunkStore(faulty, '/store')
    for (const x of [a, b, c]) expect(await restarted.get(x.id)).toEqual(x.bytes)
  })

  it('compact rewrites packs that are mostly garbage after a collection; a restart agrees', async () => {
    const { mem } = setup()
    const store = new PackChunkStore(mem, '/store', { packBytesMax: 4000 })
    const chunks = Array.from({ length: 12 }, (_, i) => chunk(i))
    for (const c of chunks) await store.put(c.id, c.bytes)
    // Keep one chunk in four: packs 1 and 2 fall to a quarter live.
    const keep = new Set(chunks.filter((_, i) => i % 4 === 0).map(c => c.id))
    const gc = await collectGarbage(store, id => keep.has(id))
    expect(gc).toMatchObject({ kept: 3, removed: 9, bytesFreed: 9000 })
    expect(await store.compact()).toEqual({ packsRemoved: 3, bytesFreed: 9000 })
    expect(store.stats()).toMatchObject({ chunks: 3, liveBytes: 3000, storedBytes: 3000 })
    for (const c of chunks) {
      if (keep.has(c.id)) expect(await store.get(c.id)).toEqual(c.bytes)
      else expect(await store.has(c.id)).toBe(false)
    }
    await store.close()
    expect((await names(mem)).filter(n => n.endsWith('.vpk'))).toEqual(['pack-0000000004.vpk'])
    const restarted = new PackChunkStore(mem, '/store', { packBytesMax: 4000 })
    expect(await all(restarted.ids())).toEqual([...keep].sort())
  })

  it('a compaction makes the moved chunks durable before it removes their old pack', async () => {
    const { mem } = setup()
    const store = new PackChunkStore(mem, '/store', { packBytesMax: 4000 })
    const chunks = Array.from({ length: 8 }, (_, i) => chunk(i))
    for (const c of chunks) await store.put(c.id, c.bytes)
    await store.close()
    // Everything so far reached the disk (as if long ago).
    for (const e of await mem.readdir('/store')) mem.writeFileSync(`/store/${e.name}`, mem.readFileSync(`/store/${e.name}`))
    await mem.syncDir('/store')
    const keep = new Set([chunks[0]!.id, chunks[5]!.id])
    await collectGarbage(store, id => keep.has(id))
    expect(await store.compact()).toMatchObject({ packsRemoved: 2 })
    // A disk that wrote the directory changes (the removals) but no file data since: a power loss now.
    await mem.syncDir('/store')
    mem.crash()
    const restarted = new PackChunkStore(mem, '/store', { packBytesMax: 4000 })
    for (const c of chunks.filter(x => keep.has(x.id))) expect(await restarted.get(c.id)).toEqual(c.bytes)
  })

  it('a chunk deleted while a compaction moves it stays deleted', async () => {
    const mem = new HookedFileSystem()
    mem.mkdirSync('/store')
    const store = new PackChunkStore(mem, '/store', { packBytesMax: 3000 })
    const chunks = Array.from({ length: 6 }, (_, i) => chunk(i))
    for (const c of chunks) await store.put(c.id, c.bytes)
    // Packs of three: two of each deleted, so each is two-thirds garbage; 1 and 4 are moved.
    for (const i of [0, 2, 3, 5]) await store.delete(chunks[i]!.id)
    // While the move of chunk 1 is being written, chunk 1 is deleted.
    let hooked = 0
    mem.beforeWrite = async () => { mem.beforeWrite = undefined; hooked++; await store.delete(chunks[1]!.id) }
    expect(await store.compact()).toMatchObject({ packsRemoved: 2 })
    expect(hooked).toBe(1)
    expect(await store.has(chunks[1]!.id)).toBe(false)
    expect(await all(store.ids())).toEqual([chunks[4]!.id])
    expect(await store.get(chunks[4]!.id)).toEqual(chunks[4]!.bytes)
  })

  it('moves the chunk files of the per-file layout into packs, verified, and removes them', async () => {
    const { mem } = setup()
    const old = new FsChunkStore(mem, '/store')
    const chunks = [chunk(1), chunk(2), chunk(3)]
    for (const c of chunks) await old.put(c.id, c.bytes)
    // One of them damaged on disk: not carried over.
    const damaged = chunks[2]!
    mem.writeFileSync(`/store/${damaged.id.slice(0, 2)}/${damaged.id.slice(2)}`, new Uint8Array(10))
    const store = new PackChunkStore(mem, '/store')
    expect(await all(store.ids())).toEqual([chunks[0]!.id, chunks[1]!.id].sort())
    expect(await store.get(chunks[0]!.id)).toEqual(chunks[0]!.bytes)
    expect((await names(mem)).filter(n => !n.startsWith('pack-'))).toEqual([])
  })

  it('on the real disk: stores, restarts, and leaves only packs and indexes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vpeer-packs-'))
    tempDirs.push(dir)
    const store = new PackChunkStore(new NodeFileSystem(), dir, { packBytesMax: 8192 })
    const chunks = Array.from({ length: 30 }, (_, i) => chunk(i, 500 + i))
    await Promise.all(chunks.map(async c => { await store.put(c.id, c.bytes) }))
    await store.close()
    const restarted = new PackChunkStore(new NodeFileSystem(), dir)
    for (const c of chunks) expect(await restarted.get(c.id)).toEqual(c.bytes)
    await restarted.close()
    expect(readdirSync(dir).every(n => /^pack-\d{10}\.(vpk|idx)$/.test(n))).toBe(true)
  })
})
