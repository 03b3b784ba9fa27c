import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { CHUNK_BYTES_MAX, chunkIdOf } from '../../src/sync/chunk.js'
import type { ChunkId } from '../../src/sync/chunk.js'
import { collectGarbage, FsChunkStore, MemoryChunkStore } from '../../src/sync/chunk-store.js'
import type { SizedChunkStore } from '../../src/sync/chunk-store.js'
import { CorruptChunkError, DiskFullError, MissingChunkError } from '../../src/sync/errors.js'
import { FaultyFileSystem, InjectedCrashError } from '../../src/sync/faulty-fs.js'
import { NodeFileSystem } from '../../src/sync/fs.js'
import { MemoryFileSystem } from '../../src/sync/memory-fs.js'
import { PackChunkStore } from '../../src/sync/pack-store.js'

function chunk (seed: number, size = 1000): { id: ChunkId, bytes: Uint8Array } {
  const bytes = new Uint8Array(size)
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff
  return { id: chunkIdOf(bytes), bytes }
}

async function all (ids: AsyncIterable<ChunkId>): Promise<ChunkId[]> {
  const out: ChunkId[] = []
  for await (const id of ids) out.push(id)
  return out.sort()
}

const tempDirs: string[] = []
afterEach(() => { for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true }) })

const stores: Array<[string, () => SizedChunkStore]> = [
  ['MemoryChunkStore', () => new MemoryChunkStore()],
  ['FsChunkStore on MemoryFileSystem', () => {
    const fs = new MemoryFileSystem()
    fs.mkdirSync('/store')
    return new FsChunkStore(fs, '/store')
  }],
  ['FsChunkStore on the real disk', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vpeer-chunks-'))
    tempDirs.push(dir)
    return new FsChunkStore(new NodeFileSystem(), dir)
  }],
  ['PackChunkStore on MemoryFileSystem', () => {
    const fs = new MemoryFileSystem()
    fs.mkdirSync('/store')
    return new PackChunkStore(fs, '/store', { packBytesMax: 64 * 1024 })
  }],
  ['PackChunkStore on the real disk', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vpeer-chunks-'))
    tempDirs.push(dir)
    return new PackChunkStore(new NodeFileSystem(), dir)
  }]
]

describe.each(stores)('%s', (_name, make) => {
  it('stores, finds, lists and deletes chunks; put is idempotent', async () => {
    const store = make()
    const a = chunk(1)
    const b = chunk(2, 0)
    const max = chunk(3, CHUNK_BYTES_MAX)
    expect(await store.has(a.id)).toBe(false)
    await store.put(a.id, a.bytes)
    await store.put(a.id, a.bytes)
    await store.put(b.id, b.bytes)
    await store.put(max.id, max.bytes)
    expect(await store.has(a.id)).toBe(true)
    expect(await store.get(a.id)).toEqual(a.bytes)
    expect(await store.get(b.id)).toEqual(b.bytes)
    expect((await store.get(max.id)).length).toBe(CHUNK_BYTES_MAX)
    expect(await store.sizeOf(a.id)).toBe(1000)
    expect(await all(store.ids())).toEqual([a.id, b.id, max.id].sort())
    await store.delete(a.id)
    await store.delete(a.id)
    await expect(store.get(a.id)).rejects.toBeInstanceOf(MissingChunkError)
    await expect(store.get('zz')).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
  })

  it('refuses bytes that do not hash to the id, or are too long, and stores nothing', async () => {
    const store = make()
    const a = chunk(1)
    const tampered = a.bytes.slice()
    tampered[500] = (tampered[500] as number) ^ 0x80
    await expect(store.put(a.id, tampered)).rejects.toBeInstanceOf(CorruptChunkError)
    const huge = new Uint8Array(CHUNK_BYTES_MAX + 1)
    await expect(store.put(chunkIdOf(huge), huge)).rejects.toMatchObject({ code: 'ERR_CORRUPT_CHUNK' })
    expect(await store.has(a.id)).toBe(false)
    expect(await all(store.ids())).toEqual([])
  })

  it('collectGarbage removes what is not referenced and reports the bytes freed', async () => {
    const store = make()
    const chunks = Array.from({ length: 10 }, (_, i) => chunk(i, 100 * (i + 1)))
    for (const c of chunks) await store.put(c.id, c.bytes)
    const keep = new Set(chunks.filter((_, i) => i % 3 === 0).map(c => c.id))
    const result = await collectGarbage(store, id => keep.has(id))
    const freed = chunks.filter(c => !keep.has(c.id)).reduce((sum, c) => sum + c.bytes.length, 0)
    expect(result).toEqual({ kept: 4, removed: 6, bytesFreed: freed })
    expect(await all(store.ids())).toEqual([...keep].sort())
    const controller = new AbortController()
    controller.abort()
    await expect(collectGarbage(store, () => false, { signal: controller.signal })).rejects.toMatchObject({ code: 'ERR_ABORTED' })
    expect(await all(store.ids())).toEqual([...keep].sort())
  })
})

describe('MemoryChunkStore', () => {
  it('a damaged chunk is detected, dropped, and a capacity gives DiskFullError', async () => {
    const store = new MemoryChunkStore({ capacityBytes: 1500 })
    const a = chunk(1)
    await store.put(a.id, a.bytes)
    store.damage(a.id, 17)
    await expect(store.get(a.id)).rejects.toBeInstanceOf(CorruptChunkError)
    expect(await store.has(a.id)).toBe(false)
    await store.put(a.id, a.bytes)
    await expect(store.put(chunk(2).id, chunk(2).bytes)).rejects.toBeInstanceOf(DiskFullError)
    expect(store.bytesStored).toBe(1000)
  })
})

/** Holds every listing of a fan-out directory until `gate` resolves (after reading it). */
class GatedFileSystem extends MemoryFileSystem {
  gate: Promise<void> | undefined
  override async readdir (path: string): ReturnType<MemoryFileSystem['readdir']> {
    const entries = await super.readdir(path)
    if (this.gate !== undefined && path !== '/g') await this.gate
    return entries
  }
}

describe('FsChunkStore', () => {
  function setup (): { mem: MemoryFileSystem, faulty: FaultyFileSystem, store: FsChunkStore } {
    const mem = new MemoryFileSystem()
    mem.mkdirSync('/store')
    const faulty = new FaultyFileSystem(mem)
    return { mem, faulty, store: new FsChunkStore(faulty, '/store') }
  }
  const pathOf = (id: ChunkId): string => `/store/${id.slice(0, 2)}/${id.slice(2)}`

  it('answers has from memory: chunks on disk at start are known, a file removed behind its back is forgotten at the next get', async () => {
    const { mem, faulty, store } = setup()
    const [a, b, c] = [chunk(1), chunk(2), chunk(3)]
    await store.put(a.id, a.bytes)
    await store.put(b.id, b.bytes)
    // A restarted store lists the disk once; a put racing that listing is not lost from it.
    const restarted = new FsChunkStore(faulty, '/store')
    const [hasA] = await Promise.all([restarted.has(a.id), restarted.put(c.id, c.bytes)])
    expect(hasA).toBe(true)
    expect(await restarted.has(c.id)).toBe(true)
    // A chunk deleted after the listing read its directory is not brought back by the listing.
    const gated = new GatedFileSystem()
    gated.mkdirSync('/g')
    await new FsChunkStore(gated, '/g').put(a.id, a.bytes)
    const late = new FsChunkStore(gated, '/g')
    let release = (): void => {}
    gated.gate = new Promise<void>(resolve => { release = resolve })
    const asked = late.has(a.id)
    await new Promise(resolve => setTimeout(resolve, 10))
    await late.delete(a.id)
    release()
    expect(await asked).toBe(false)
    expect(await restarted.has(chunk(4).id)).toBe(false)
    // No stat per question once listed.
    const stats = faulty.counters.calls.stat
    for (let i = 0; i < 10; i++) await restarted.has(b.id)
    expect(faulty.counters.calls.stat).toBe(stats)
    await mem.unlink(pathOf(b.id))
    expect(await restarted.has(b.id)).toBe(true)
    await expect(restarted.get(b.id)).rejects.toBeInstanceOf(MissingChunkError)
    expect(await restarted.has(b.id)).toBe(false)
    await restarted.put(b.id, b.bytes)
    expect(await restarted.get(b.id)).toEqual(b.bytes)
    await restarted.delete(a.id)
    expect(await restarted.has(a.id)).toBe(false)
  })

  it('lays chunks out as <dir>/<2 hex>/<62 hex>', async () => {
    const { mem, store } = setup()
    const a = chunk(1)
    await store.put(a.id, a.bytes)
    expect(mem.readFileSync(pathOf(a.id))).toEqual(a.bytes)
    expect((await mem.readdir('/store')).map(e => e.name)).toEqual([a.id.slice(0, 2)])
  })

  it('detects damage on disk, deletes the damaged copy, and accepts a fresh put', async () => {
    const { mem, store } = setup()
    const a = chunk(1)
    const b = chunk(2)
    await store.put(a.id, a.bytes)
    await store.put(b.id, b.bytes)
    const flipped = a.bytes.slice()
    flipped[999] = (flipped[999] as number) ^ 1
    mem.writeFileSync(pathOf(a.id), flipped)
    mem.writeFileSync(pathOf(b.id), b.bytes.subarray(0, 10)) // truncated
    await expect(store.get(a.id)).rejects.toBeInstanceOf(CorruptChunkError)
    await expect(store.get(b.id)).rejects.toThrow(/damaged/)
    expect(await store.has(a.id)).toBe(false)
    expect(await store.has(b.id)).toBe(false)
    await store.put(a.id, a.bytes)
    expect(await store.get(a.id)).toEqual(a.bytes)
    // A symlink planted under a chunk's name is not followed and not served.
    mem.writeFileSync('/elsewhere', b.bytes)
    mem.symlink('/elsewhere', pathOf(b.id))
    await expect(store.get(b.id)).rejects.toBeInstanceOf(CorruptChunkError)
    expect(await mem.stat(pathOf(b.id))).toBeUndefined()
  })

  it('a full disk: DiskFullError, the temp file removed, nothing under the id; works again with space', async () => {
    const { mem, faulty, store } = setup()
    const a = chunk(1)
    await store.put(chunk(9).id, chunk(9).bytes) // creates a fan-out directory
    for (const code of ['ENOSPC', 'EDQUOT'] as const) {
      faulty.diskFull(400, code)
      const error = await store.put(a.id, a.bytes).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(DiskFullError)
      expect((error as DiskFullError).cause).toMatchObject({ code })
      expect(await store.has(a.id)).toBe(false)
      const fanout = `/store/${a.id.slice(0, 2)}`
      expect((await mem.readdir(fanout)).filter(e => e.name.startsWith('.vpeer-tmp'))).toEqual([])
    }
    faulty.freeSpace()
    await store.put(a.id, a.bytes)
    expect(await store.get(a.id)).toEqual(a.bytes)
  })

  it('a failing write, close or rename leaves no temp file and nothing under the id', async () => {
    const { mem, faulty, store } = setup()
    const a = chunk(1)
    for (const op of ['write', 'close', 'rename'] as const) {
      faulty.failNext(op, 'EIO')
      await expect(store.put(a.id, a.bytes)).rejects.toMatchObject({ code: 'EIO' })
      expect(await store.has(a.id)).toBe(false)
      const names = (await mem.readdir(`/store/${a.id.slice(0, 2)}`).catch(() => [])).map(e => e.name)
      expect(names.filter(n => n.startsWith('.vpeer-tmp'))).toEqual([])
    }
  })

  it('put does not fsync: durability is left to verification and refetching', async () => {
    const { faulty, store } = setup()
    // Any fsync or directory sync in put fails it: a put that succeeds paid for none.
    faulty.failNext('sync', 'EIO')
    faulty.failNext('syncDir', 'EIO')
    const a = chunk(1)
    await store.put(a.id, a.bytes)
    expect(await store.get(a.id)).toEqual(a.bytes)
  })

  /** Syncs every directory under `dir` (not file contents): a kernel that wrote metadata before data. */
  async function syncDirsOnly (mem: MemoryFileSystem, dir: string): Promise<void> {
    await mem.syncDir(dir)
    for (const e of await mem.readdir(dir)) if (e.kind === 'directory') await syncDirsOnly(mem, `${dir}/${e.name}`)
  }

  it('after a crash a chunk may be lost or damaged, never served damaged: get refuses and drops it, a refetch stores it again', async () => {
    const chunks = Array.from({ length: 6 }, (_, i) => chunk(i, 3000 + i))
    const total = chunks.reduce((s, c) => s + c.bytes.length, 0)
    let damagedSeen = 0
    // Crash at many points in a sequence of puts, two ways: the weakest disk (nothing unsynced
    // survives) and one that wrote directory entries but not file data (names of empty files).
    for (const metadataFirst of [false, true]) {
      for (let crashAt = 0; crashAt <= total; crashAt += 997) {
        const { mem, faulty, store } = setup()
        faulty.crashAfterBytes(crashAt, () => {})
        try {
          for (const c of chunks) await store.put(c.id, c.bytes)
        } catch (error) {
          expect(error).toBeInstanceOf(InjectedCrashError)
        }
        if (metadataFirst) await syncDirsOnly(mem, '/store')
        mem.crash()
        faulty.recover()
        const restarted = new FsChunkStore(faulty, '/store')
        const present = await all(restarted.ids())
        for (const id of present) {
          const c = chunks.find(x => x.id === id)
          expect(c, `a name that was never put: ${id}`).toBeDefined()
          const got = await restarted.get(id).catch((e: unknown) => e)
          if (got instanceof Uint8Array) {
            expect(got).toEqual(c!.bytes)
            continue
          }
          expect(got).toBeInstanceOf(CorruptChunkError)
          damagedSeen++
          expect(await restarted.has(id)).toBe(false)
          await restarted.put(id, c!.bytes)
          expect(await restarted.get(id)).toEqual(c!.bytes)
        }
        // No temp file outlives the restart's listing.
        for (const e of await mem.readdir('/store')) {
          if (e.kind !== 'directory') continue
          expect((await mem.readdir(`/store/${e.name}`)).filter(x => x.name.startsWith('.vpeer-tmp'))).toEqual([])
        }
      }
    }
    // The damaged case was exercised, not only the empty store.
    expect(damagedSeen).toBeGreaterThan(0)
  })

  it('ids() lists only well-formed ids, removes temp leftovers, ignores strays', async () => {
    const { mem, store } = setup()
    const a = chunk(1)
    await store.put(a.id, a.bytes)
    const fanout = `/store/${a.id.slice(0, 2)}`
    mem.writeFileSync(`${fanout}/.vpeer-tmp-0123-dead-7`, new Uint8Array(5))
    mem.writeFileSync(`${fanout}/README`, new Uint8Array(1))
    mem.writeFileSync(`${fanout}/${'a'.repeat(61)}`, new Uint8Array(1)) // one hex short
    mem.writeFileSync('/store/zz/' + 'b'.repeat(62), new Uint8Array(1)) // fan-out not hex
    mem.writeFileSync('/store/stray', new Uint8Array(1))
    expect(await all(store.ids())).toEqual([a.id])
    expect((await mem.readdir(fanout)).map(e => e.name).sort()).toEqual([a.id.slice(2), 'README', 'a'.repeat(61)].sort())
    expect(await all(new FsChunkStore(mem, '/missing').ids())).toEqual([])
  })

  it('on the real disk: a damaged file is caught and removed, temp leftovers cleaned', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vpeer-chunks-'))
    tempDirs.push(dir)
    const store = new FsChunkStore(new NodeFileSystem(), dir)
    const a = chunk(1)
    await store.put(a.id, a.bytes)
    const file = join(dir, a.id.slice(0, 2), a.id.slice(2))
    writeFileSync(file, a.bytes.subarray(1))
    writeFileSync(join(dir, a.id.slice(0, 2), '.vpeer-tmp-x'), 'x')
    await expect(store.get(a.id)).rejects.toBeInstanceOf(CorruptChunkError)
    expect(await all(store.ids())).toEqual([])
    expect(readdirSync(join(dir, a.id.slice(0, 2)))).toEqual([])
  })
})
