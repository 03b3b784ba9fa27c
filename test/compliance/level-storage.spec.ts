import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { LogEntry, Slot } from '../../src/paxos/types.js'
import type { Storage } from '../../src/contracts/index.js'
import { CorruptRecordError, DamagedStorageError, LevelStorage, StorageError, StorageWriteError } from '../../src/storage/index.js'
import { decodeSnapshotRecord, encodeSnapshotRecord } from '../../src/storage/codec.js'
import { openRecord, sealRecord } from '../../src/storage/frame.js'
import { describeKey, FORMAT_KEY, HEAD_KEY, logKey, META_KEY, pieceKey, SNAPSHOT_KEY } from '../../src/storage/keys.js'
import type { StorageHarness } from './storage.js'
import { ballot, bytes, describeStorageCompliance, entries, entry, expectSnapshot, snapshot, sortedLog } from './storage.js'

async function tempDir (): Promise<string> {
  return mkdtemp(join(tmpdir(), 'vpeer-'))
}

function levelHarness (pieceBytes?: number): () => Promise<StorageHarness> {
  return async () => {
    const dir = await tempDir()
    const opened: Storage[] = []
    const options = pieceBytes === undefined ? {} : { snapshotPieceBytes: pieceBytes }
    try {
      const storage = await LevelStorage.open(dir, options)
      opened.push(storage)
      return {
        storage,
        reopen: async () => {
          for (const handle of opened) await handle.close()
          const next = await LevelStorage.open(dir, options)
          opened.push(next)
          return next
        },
        cleanup: async () => {
          try {
            for (const handle of opened) await handle.close()
          } finally {
            await rm(dir, { recursive: true, force: true })
          }
        }
      }
    } catch (err) {
      await rm(dir, { recursive: true, force: true })
      throw err
    }
  }
}

describeStorageCompliance('LevelStorage', levelHarness())
// Small pieces: every snapshot in the suite spans many keys, so piece bookkeeping is exercised.
describeStorageCompliance('LevelStorage with 100-byte snapshot pieces', levelHarness(100))

/** Opens the folder with `level` directly, as another tool (or a bit flip) would touch it. */
async function withRawDb (dir: string, fn: (db: Level<Uint8Array, Uint8Array>) => Promise<void>): Promise<void> {
  const db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open()
  try {
    await fn(db)
  } finally {
    await db.close()
  }
}

describe('LevelStorage', () => {
  let dir: string
  let storage: LevelStorage | undefined

  beforeEach(async () => {
    dir = await tempDir()
    storage = undefined
  })

  afterEach(async () => {
    vi.restoreAllMocks()
    try {
      await storage?.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  async function open (): Promise<LevelStorage> {
    await storage?.close()
    storage = await LevelStorage.open(dir)
    return storage
  }

  it('issues exactly one synced db.batch per persist, the head record last', async () => {
    const s = await open()
    const spy = vi.spyOn(Level.prototype, 'batch')
    await s.persist({ promised: ballot(1, 'a'), commitIndex: 0, entries: [[1, entry(1, 'a', 'x')], [2, entry(1, 'a', 'y')]] })
    await s.persist({ commitIndex: 2, entries: [] })
    await s.persist({ entries: [[3, entry(1, 'a', 'z')]] })
    expect(spy).toHaveBeenCalledTimes(3)
    // The spy's type is that of the last overload, `batch()`, so read the arguments untyped.
    const calls = spy.mock.calls as unknown[][]
    expect(calls.map((call) => (call[0] as unknown[]).length)).toEqual([4, 2, 2])
    for (const call of calls) {
      expect(call[1]).toMatchObject({ sync: true })
      const ops = call[0] as Array<{ key: Uint8Array }>
      expect(describeKey(ops[ops.length - 1]!.key)).toBe('head')
    }
  })

  it('stores log keys in numeric order as fixed-width big-endian slots', async () => {
    const s = await open()
    const slots = [2 ** 40, 1, 256, 2, 2 ** 32, 255, 65_536]
    await s.persist({ commitIndex: 3, entries: slots.map((slot) => [slot, entry(1, 'a', `v${slot}`)]) })
    await s.close()
    const keys: Uint8Array[] = []
    await withRawDb(dir, async (db) => {
      for await (const key of db.keys()) keys.push(key)
    })
    expect(keys.map((key) => Array.from(key))).toEqual([
      Array.from(FORMAT_KEY),
      Array.from(HEAD_KEY),
      ...[...slots].sort((a, b) => a - b).map((slot) => Array.from(logKey(slot))),
      Array.from(META_KEY)
    ])
    expect(Array.from(logKey(258))).toEqual([0x4c, 0, 0, 0, 0, 0, 0, 1, 2])
  })

  it('throws CorruptRecordError naming the key of a corrupt log record, and loses nothing', async () => {
    const s = await open()
    const entries: Array<[Slot, LogEntry]> = [1, 2, 3].map((slot) => [slot, entry(1, 'a', `v${slot}`, [['c', slot, bytes(slot)]])])
    await s.persist({ promised: ballot(1, 'a'), commitIndex: 3, entries })
    await s.close()
    let original: Uint8Array | undefined
    await withRawDb(dir, async (db) => {
      original = await db.get(logKey(2))
      await db.put(logKey(2), bytes(2, 0, 0, 0, 0, 1, 0x45, 0xff))
    })

    const broken = await open()
    const error = await broken.load().catch((err: unknown) => err)
    expect(error).toBeInstanceOf(CorruptRecordError)
    expect(error).toMatchObject({ code: 'ERR_CORRUPT_RECORD', record: 'log entry', key: 'log/2' })
    expect(String((error as Error).message)).toContain('log/2')
    // A failed load must not have written or deleted anything: once repaired, all is there.
    await broken.close()
    await withRawDb(dir, async (db) => { await db.put(logKey(2), original!) })
    const repaired = await open()
    const state = await repaired.load()
    expect(state.commitIndex).toBe(3)
    expect(sortedLog(state)).toEqual(entries)
  })

  it('refuses to open with a corrupt meta record: its promise cannot be known', async () => {
    const s = await open()
    await s.persist({ promised: ballot(1, 'a'), commitIndex: 0, entries: [] })
    await s.close()
    await withRawDb(dir, async (db) => { await db.put(META_KEY, bytes(9, 0x4d, 0)) })
    const error = await LevelStorage.open(dir).catch((err: unknown) => err)
    expect(error).toBeInstanceOf(CorruptRecordError)
    expect(error).toBeInstanceOf(DamagedStorageError)
    expect(error).toMatchObject({ code: 'ERR_CORRUPT_RECORD', record: 'meta', key: 'meta' })
    expect(String((error as Error).message)).toMatch(/must not vote/)
  })

  it('throws CorruptRecordError for a malformed key inside the log range', async () => {
    const s = await open()
    await s.persist({ entries: [[1, entry(1, 'a', 'v')]] })
    await s.close()
    await withRawDb(dir, async (db) => { await db.put(bytes(0x4c, 1, 2), bytes(2, 0, 0, 0, 0, 1)) })
    const broken = await open()
    await expect(broken.load()).rejects.toMatchObject({ code: 'ERR_CORRUPT_RECORD', record: 'log key', key: '0x4c0102' })
  })

  it('maps a failed db.batch to StorageWriteError and keeps the previous state', async () => {
    const s = await open()
    await s.persist({ promised: ballot(1, 'a'), commitIndex: 1, entries: [[1, entry(1, 'a', 'v')]] })
    const cause = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })
    vi.spyOn(Level.prototype, 'batch').mockRejectedValueOnce(cause)
    const failed = s.persist({ promised: ballot(2, 'b'), commitIndex: 2, entries: [[2, entry(2, 'b', 'w')]] })
    await expect(failed).rejects.toBeInstanceOf(StorageWriteError)
    await expect(failed).rejects.toMatchObject({ code: 'ERR_STORAGE_WRITE', cause })
    // The cached meta must not have taken the failed write's promised ballot.
    await s.persist({ commitIndex: 1, entries: [] })
    const state = await (await open()).load()
    expect(state.promised).toEqual(ballot(1, 'a'))
    expect(state.commitIndex).toBe(1)
    expect(sortedLog(state)).toEqual([[1, entry(1, 'a', 'v')]])
  })

  it('issues exactly one synced db.batch per installSnapshot and per compact that drops something', async () => {
    const s = await open()
    await s.persist({ commitIndex: 3, entries: entries(1, 10) })
    const spy = vi.spyOn(Level.prototype, 'batch')
    const snap = snapshot(6, 2_500_000, 1, 100_000)
    await s.installSnapshot(snap.meta, snap.state)
    await s.persist({ entries: entries(2, 6) })
    spy.mockClear()
    await s.compact(4)
    await s.compact(4) // nothing left to drop: no write at all
    await s.compact(0)
    expect(spy).toHaveBeenCalledTimes(1)
    const calls = spy.mock.calls as unknown[][]
    for (const call of calls) expect(call[1]).toMatchObject({ sync: true })
    expect((calls[0]![0] as Array<{ type: string, key: Uint8Array }>).map((op) => `${op.type} ${describeKey(op.key)}`))
      .toEqual(['del log/2', 'del log/3', 'del log/4', 'put head'])
  })

  it('stores the state in 1 MiB pieces under S/<n>, removes stale pieces and writes the log prefix deletion in the same batch', async () => {
    const s = await open()
    const spy = vi.spyOn(Level.prototype, 'batch')
    await s.persist({ commitIndex: 2, entries: entries(1, 5) })
    const big = snapshot(3, 2.5 * 1024 * 1024, 1, 64 * 1024)
    await s.installSnapshot(big.meta, big.state)
    const ops = (spy.mock.calls as unknown[][])[1]![0] as Array<{ type: string, key: Uint8Array, value?: Uint8Array }>
    expect(ops.map((op) => `${op.type} ${describeKey(op.key)}`)).toEqual([
      'put snapshot/piece/0', 'put snapshot/piece/1', 'put snapshot/piece/2',
      'del log/1', 'del log/2', 'del log/3',
      'put snapshot', 'put meta', 'put head'
    ])
    expect(ops.slice(0, 3).map((op) => openRecord(op.key, op.value!, 'piece', 'piece').body.byteLength)).toEqual([1024 * 1024, 1024 * 1024, 512 * 1024])
    const small = snapshot(4, 10)
    await s.installSnapshot(small.meta, small.state)
    await s.close()
    const keys: string[] = []
    await withRawDb(dir, async (db) => {
      for await (const key of db.keys()) keys.push(describeKey(key))
    })
    expect(keys).toEqual(['format', 'head', 'log/5', 'meta', 'snapshot', 'snapshot/piece/0'])
  })

  it('reads a snapshot written with another piece size', async () => {
    const s = await open()
    const snap = snapshot(9, 5000, 3, 128)
    await s.installSnapshot(snap.meta, snap.state)
    await s.close()
    storage = await LevelStorage.open(dir, { snapshotPieceBytes: 7 })
    expectSnapshot(await storage.loadSnapshot(), snap)
    await expect(LevelStorage.open(join(dir, 'other'), { snapshotPieceBytes: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_RECORD' })
  })

  describe('corrupt snapshots', () => {
    const snap = snapshot(4, 3000, 5, 256)

    async function installed (pieceBytes = 1000): Promise<void> {
      await storage?.close()
      storage = await LevelStorage.open(dir, { snapshotPieceBytes: pieceBytes })
      await storage.persist({ commitIndex: 2, entries: entries(1, 8) })
      await storage.installSnapshot(snap.meta, snap.state)
      await storage.close()
    }

    async function reopenWith (damage: (db: Level<Uint8Array, Uint8Array>) => Promise<void>): Promise<LevelStorage> {
      await withRawDb(dir, damage)
      storage = await LevelStorage.open(dir)
      return storage
    }

    async function corruptRecord (s: LevelStorage, key: string): Promise<void> {
      const error = await s.loadSnapshot().catch((err: unknown) => err)
      expect(error).toBeInstanceOf(CorruptRecordError)
      expect(error).toMatchObject({ code: 'ERR_CORRUPT_RECORD', key })
    }

    /** Replaces the body of the record at `key`, sealed as the same batch wrote it (a valid frame). */
    async function rewriteBody (db: Level<Uint8Array, Uint8Array>, key: Uint8Array, change: (body: Uint8Array) => Uint8Array): Promise<void> {
      const opened = openRecord(key, (await db.get(key))!, 'record', describeKey(key))
      await db.put(key, sealRecord(key, opened.seq, change(opened.body.slice())))
    }

    it('refuses a snapshot record that does not decode', async () => {
      await installed()
      await corruptRecord(await reopenWith(async (db) => { await db.put(SNAPSHOT_KEY, bytes(1, 0x4e, 0x80)) }), 'snapshot')
    })

    it('refuses a manifest whose root does not match, and a piece count that does not fit', async () => {
      // Validly framed records with a wrong body: what a bug (not a flipped bit) would write.
      await installed()
      await corruptRecord(await reopenWith(async (db) => {
        await rewriteBody(db, SNAPSHOT_KEY, (body) => {
          const decoded = decodeSnapshotRecord(body)
          const manifest = decoded.manifest.slice()
          manifest[5] = manifest[5]! ^ 1
          return encodeSnapshotRecord({ ...decoded, manifest })
        })
      }), 'snapshot')
      await storage?.close()
      await corruptRecord(await reopenWith(async (db) => {
        await rewriteBody(db, SNAPSHOT_KEY, (body) => encodeSnapshotRecord({ ...decodeSnapshotRecord(body), pieceCount: 2 }))
      }), 'snapshot')
    })

    it('refuses a piece whose bytes changed, naming the piece: by its checksum, and by the chunk hash under a valid frame', async () => {
      await installed()
      await corruptRecord(await reopenWith(async (db) => {
        const piece = await db.get(pieceKey(1))
        piece![300] = piece![300]! ^ 0x80
        await db.put(pieceKey(1), piece!)
      }), 'snapshot/piece/1')
      await expect(storage!.loadSnapshot()).rejects.toThrow(/checksum mismatch/)
      await storage?.close()
      await installed()
      await corruptRecord(await reopenWith(async (db) => {
        await rewriteBody(db, pieceKey(1), (body) => {
          // State byte 1300: chunk 5 (bytes 1280..1536), inside piece 1 (bytes 1000..2000).
          body[300] = body[300]! ^ 0x80
          return body
        })
      }), 'snapshot/piece/1')
      await expect(storage!.loadSnapshot()).rejects.toThrow(/chunk 5 \(bytes 1280\.\.1536, piece 1\)/)
    })

    it('refuses a missing, a truncated and an extra piece', async () => {
      await installed()
      await corruptRecord(await reopenWith(async (db) => { await db.del(pieceKey(1)) }), 'snapshot/piece/2')
      await storage?.close()
      await installed()
      await corruptRecord(await reopenWith(async (db) => { await db.put(pieceKey(2), bytes(1, 2, 3)) }), 'snapshot/piece/2')
      await storage?.close()
      await installed()
      await corruptRecord(await reopenWith(async (db) => { await db.put(pieceKey(3), bytes(1)) }), 'snapshot/piece/3')
    })

    it('refuses compact when the bound cannot be known, and is repaired by installing a fresh snapshot', async () => {
      await installed()
      const s = await reopenWith(async (db) => { await db.put(SNAPSHOT_KEY, bytes(0)) })
      await expect(s.compact(1)).rejects.toBeInstanceOf(CorruptRecordError)
      // load() cannot check the committed slots without the snapshot's index: refused too.
      await expect(s.load()).rejects.toMatchObject({ code: 'ERR_CORRUPT_RECORD', key: 'snapshot' })
      const fresh = snapshot(6, 500, 9, 64)
      await s.installSnapshot(fresh.meta, fresh.state)
      expectSnapshot(await s.loadSnapshot(), fresh)
      expect(sortedLog(await s.load())).toEqual(entries(7, 8))
      await s.compact(6)
    })
  })

  it('maps a failed install batch to StorageWriteError and keeps the previous snapshot, log and caches', async () => {
    const s = await open()
    await s.persist({ promised: ballot(1, 'a'), commitIndex: 2, entries: entries(1, 9) })
    const first = snapshot(3)
    await s.installSnapshot(first.meta, first.state)
    const cause = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })
    vi.spyOn(Level.prototype, 'batch').mockRejectedValueOnce(cause)
    const second = snapshot(7)
    await expect(s.installSnapshot(second.meta, second.state)).rejects.toMatchObject({ code: 'ERR_STORAGE_WRITE', cause })
    // The caches must not have taken the failed write: compacting above 3 is still refused,
    // and the commitIndex written next is the old one.
    await expect(s.compact(5)).rejects.toMatchObject({ code: 'ERR_COMPACT_BEYOND_SNAPSHOT', snapshotIndex: 3 })
    await s.persist({ promised: ballot(2, 'b'), entries: [] })
    const state = await (await open()).load()
    expect(state.commitIndex).toBe(3)
    expect(sortedLog(state)).toEqual(entries(4, 9))
    expectSnapshot(await storage!.loadSnapshot(), first)
  })

  it('fails to open a folder another handle holds, with a typed error', async () => {
    await open()
    const error = await LevelStorage.open(dir).catch((err: unknown) => err)
    expect(error).toBeInstanceOf(StorageError)
    expect(error).toMatchObject({ code: 'ERR_STORAGE_OPEN' })
  })

  it('honours createIfMissing: false', async () => {
    await expect(LevelStorage.open(join(dir, 'absent'), { createIfMissing: false }))
      .rejects.toMatchObject({ code: 'ERR_STORAGE_OPEN' })
  })
})
