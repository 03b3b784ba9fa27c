import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { LogEntry, Slot } from '../../src/paxos/types.ts'
import type { Storage } from '../../src/vpeer/interfaces.ts'
import { CorruptRecordError, LevelStorage, StorageError, StorageWriteError } from '../../src/storage/index.ts'
import { encodeLogEntry } from '../../src/storage/codec.ts'
import { logKey, META_KEY } from '../../src/storage/keys.ts'
import { ballot, bytes, describeStorageCompliance, entry, sortedLog } from './storage.ts'

async function tempDir (): Promise<string> {
  return mkdtemp(join(tmpdir(), 'vpeer-'))
}

describeStorageCompliance('LevelStorage', async () => {
  const dir = await tempDir()
  const opened: Storage[] = []
  try {
    const storage = await LevelStorage.open(dir)
    opened.push(storage)
    return {
      storage,
      reopen: async () => {
        for (const handle of opened) await handle.close()
        const next = await LevelStorage.open(dir)
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
})

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

  it('issues exactly one synced db.batch per persist', async () => {
    const spy = vi.spyOn(Level.prototype, 'batch')
    const s = await open()
    await s.persist({ promised: ballot(1, 'a'), commitIndex: 0, entries: [[1, entry(1, 'a', 'x')], [2, entry(1, 'a', 'y')]] })
    await s.persist({ commitIndex: 2, entries: [] })
    await s.persist({ entries: [[3, entry(1, 'a', 'z')]] })
    expect(spy).toHaveBeenCalledTimes(3)
    // The spy's type is that of the last overload, `batch()`, so read the arguments untyped.
    const calls = spy.mock.calls as unknown[][]
    expect(calls.map((call) => (call[0] as unknown[]).length)).toEqual([3, 1, 1])
    for (const call of calls) expect(call[1]).toMatchObject({ sync: true })
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
    await withRawDb(dir, async (db) => { await db.put(logKey(2), bytes(1, 0x45, 0xff)) })

    const broken = await open()
    const error = await broken.load().catch((err: unknown) => err)
    expect(error).toBeInstanceOf(CorruptRecordError)
    expect(error).toMatchObject({ code: 'ERR_CORRUPT_RECORD', record: 'log entry', key: 'log/2' })
    expect(String((error as Error).message)).toContain('log/2')
    // A failed load must not have written or deleted anything: once repaired, all is there.
    await broken.close()
    await withRawDb(dir, async (db) => { await db.put(logKey(2), encodeLogEntry(entries[1]![1])) })
    const repaired = await open()
    const state = await repaired.load()
    expect(state.commitIndex).toBe(3)
    expect(sortedLog(state)).toEqual(entries)
  })

  it('throws CorruptRecordError for a corrupt meta record, on load and on a partial meta write', async () => {
    const s = await open()
    await s.persist({ promised: ballot(1, 'a'), commitIndex: 0, entries: [] })
    await s.close()
    await withRawDb(dir, async (db) => { await db.put(META_KEY, bytes(9, 0x4d, 0)) })
    const broken = await open()
    await expect(broken.load()).rejects.toMatchObject({ code: 'ERR_CORRUPT_RECORD', record: 'meta', key: 'meta' })
    // Rewriting only commitIndex needs the stored promised ballot; guessing would lose the promise.
    await expect(broken.persist({ commitIndex: 1, entries: [] })).rejects.toBeInstanceOf(CorruptRecordError)
  })

  it('throws CorruptRecordError for a malformed key inside the log range', async () => {
    const s = await open()
    await s.persist({ entries: [[1, entry(1, 'a', 'v')]] })
    await s.close()
    await withRawDb(dir, async (db) => { await db.put(bytes(0x4c, 1, 2), encodeLogEntry(entry(1, 'a', 'w'))) })
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
