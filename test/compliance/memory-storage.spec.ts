import { describe, expect, it } from 'vitest'
import { MemoryStorage, StorageCrashedError, StorageWriteError } from '../../src/storage/index.js'
import { ballot, bytes, describeStorageCompliance, entries, entry, expectSnapshot, snapshot, sortedLog } from './storage.js'

describeStorageCompliance('MemoryStorage', async () => {
  const storage = new MemoryStorage()
  return {
    storage,
    // A restart of a simulated node reuses the same object: the durable image is its disk.
    reopen: async () => {
      storage.crash()
      return storage
    },
    cleanup: async () => {}
  }
})

describeStorageCompliance('MemoryStorage with a scheduled fsync', async () => {
  // The fsync completes on a later macrotask, as a simulator's virtual clock would complete it.
  const storage = new MemoryStorage({ schedule: (sync) => { setImmediate(sync) } })
  return {
    storage,
    reopen: async () => {
      storage.crash()
      return storage
    },
    cleanup: async () => {}
  }
})

/** A storage whose fsyncs complete only when the test says so. */
function manual (): { storage: MemoryStorage, syncs: Array<() => void> } {
  const syncs: Array<() => void> = []
  const storage = new MemoryStorage({ schedule: (sync) => { syncs.push(sync) } })
  return { storage, syncs }
}

/** Settles a promise into a value the test can inspect without awaiting its rejection late. */
function outcome (promise: Promise<void>): { state: 'pending' | 'resolved' | 'rejected', error?: unknown } {
  const result: { state: 'pending' | 'resolved' | 'rejected', error?: unknown } = { state: 'pending' }
  promise.then(() => { result.state = 'resolved' }, (error: unknown) => {
    result.state = 'rejected'
    result.error = error
  })
  return result
}

async function flush (): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve()
}

describe('MemoryStorage', () => {
  it('keeps a write pending until its fsync completes', async () => {
    const { storage, syncs } = manual()
    const write = outcome(storage.persist({ promised: ballot(1, 'a'), entries: [[1, entry(1, 'a', 'v')]] }))
    await flush()
    expect(write.state).toBe('pending')
    expect(storage.pendingCount).toBe(1)
    // Not durable, so not visible: load returns the durable image only.
    expect((await storage.load()).log.size).toBe(0)
    syncs[0]?.()
    await flush()
    expect(write.state).toBe('resolved')
    expect(storage.pendingCount).toBe(0)
    expect(sortedLog(await storage.load())).toEqual([[1, entry(1, 'a', 'v')]])
  })

  it('loses unsynced writes in a crash, keeps synced ones and rejects the lost ones', async () => {
    const { storage, syncs } = manual()
    const first = outcome(storage.persist({ promised: ballot(1, 'a'), commitIndex: 0, entries: [[1, entry(1, 'a', 'one')]] }))
    const second = outcome(storage.persist({ commitIndex: 1, entries: [[2, entry(1, 'a', 'two')]] }))
    const third = outcome(storage.persist({ promised: ballot(2, 'b'), entries: [[1, entry(2, 'b', 'three')]] }))
    syncs[0]?.()
    expect(storage.crash()).toBe(2)
    await flush()
    expect(first.state).toBe('resolved')
    expect(second.state).toBe('rejected')
    expect(second.error).toBeInstanceOf(StorageCrashedError)
    expect(second.error).toMatchObject({ code: 'ERR_STORAGE_CRASHED' })
    expect(third.error).toBeInstanceOf(StorageCrashedError)
    const state = await storage.load()
    expect(state.promised).toEqual(ballot(1, 'a'))
    expect(state.commitIndex).toBe(0)
    expect(sortedLog(state)).toEqual([[1, entry(1, 'a', 'one')]])
    // A late fsync of a lost write must not resurrect it.
    syncs[1]?.()
    syncs[2]?.()
    expect(sortedLog(await storage.load())).toEqual([[1, entry(1, 'a', 'one')]])
    // The restarted node writes normally.
    const after = outcome(storage.persist({ commitIndex: 1, entries: [] }))
    syncs[3]?.()
    await flush()
    expect(after.state).toBe('resolved')
    expect((await storage.load()).commitIndex).toBe(1)
  })

  it('makes earlier pending writes durable when a later fsync completes', async () => {
    const { storage, syncs } = manual()
    const first = outcome(storage.persist({ entries: [[1, entry(1, 'a', 'one')]] }))
    const second = outcome(storage.persist({ commitIndex: 1, entries: [[2, entry(1, 'a', 'two')]] }))
    syncs[1]?.()
    syncs[0]?.()
    storage.crash()
    await flush()
    expect(first.state).toBe('resolved')
    expect(second.state).toBe('resolved')
    const state = await storage.load()
    expect(state.commitIndex).toBe(1)
    expect(state.log.size).toBe(2)
  })

  it('loses a write that a crash cuts off before its microtask in immediate mode', async () => {
    const storage = new MemoryStorage()
    const write = outcome(storage.persist({ commitIndex: 1, entries: [] }))
    storage.crash()
    await flush()
    expect(write.error).toBeInstanceOf(StorageCrashedError)
    expect((await storage.load()).commitIndex).toBe(0)
  })

  it('failNextPersist rejects the next write with StorageWriteError and applies nothing', async () => {
    const storage = new MemoryStorage()
    await storage.persist({ promised: ballot(1, 'a'), commitIndex: 1, entries: [[1, entry(1, 'a', 'v')]] })
    storage.failNextPersist()
    const failed = storage.persist({ promised: ballot(2, 'b'), commitIndex: 2, entries: [[1, entry(2, 'b', 'w')], [2, entry(2, 'b', 'x')]] })
    await expect(failed).rejects.toBeInstanceOf(StorageWriteError)
    await expect(failed).rejects.toMatchObject({ code: 'ERR_STORAGE_WRITE', cause: { code: 'ENOSPC' } })
    const state = await storage.load()
    expect(state.promised).toEqual(ballot(1, 'a'))
    expect(state.commitIndex).toBe(1)
    expect(sortedLog(state)).toEqual([[1, entry(1, 'a', 'v')]])
    // One shot: the following write succeeds.
    await storage.persist({ commitIndex: 2, entries: [] })
    expect((await storage.load()).commitIndex).toBe(2)
  })

  it('failNextPersist wraps a given cause', async () => {
    const storage = new MemoryStorage()
    const cause = new Error('EIO: i/o error')
    storage.failNextPersist(cause)
    await expect(storage.persist({ entries: [] })).rejects.toMatchObject({ code: 'ERR_STORAGE_WRITE', cause })
  })

  it('is usable again after a crash even if it had been closed', async () => {
    const storage = new MemoryStorage()
    await storage.persist({ commitIndex: 0, entries: [[1, entry(1, 'a', 'v', [['c', 1, bytes(1)]])]] })
    await storage.close()
    await expect(storage.load()).rejects.toMatchObject({ code: 'ERR_STORAGE_CLOSED' })
    storage.crash()
    expect((await storage.load()).log.size).toBe(1)
  })

  it('uses no timer: every write completes within the microtask queue', async () => {
    const storage = new MemoryStorage()
    let done = false
    void storage.persist({ commitIndex: 1, entries: [] }).then(() => { done = true })
    await flush()
    expect(done).toBe(true)
  })
})

describe('MemoryStorage: snapshots', () => {
  it('keeps the old snapshot and log when a crash comes before the install is synced', async () => {
    const { storage, syncs } = manual()
    const first = snapshot(4)
    const seed = outcome(storage.persist({ promised: ballot(3, 'n1'), commitIndex: 4, entries: entries(1, 9) }))
    const install = outcome(storage.installSnapshot(first.meta, first.state))
    syncs[1]?.()
    await flush()
    expect([seed.state, install.state]).toEqual(['resolved', 'resolved'])

    const second = snapshot(8)
    const lost = outcome(storage.installSnapshot(second.meta, second.state))
    await flush()
    expect(lost.state).toBe('pending')
    // Pending means invisible: neither the new snapshot nor its compaction shows yet.
    expectSnapshot(await storage.loadSnapshot(), first)
    expect(sortedLog(await storage.load())).toEqual(entries(5, 9))
    expect(storage.crash()).toBe(1)
    await flush()
    expect(lost.error).toBeInstanceOf(StorageCrashedError)
    expectSnapshot(await storage.loadSnapshot(), first)
    const state = await storage.load()
    expect(sortedLog(state)).toEqual(entries(5, 9))
    expect(state.commitIndex).toBe(4)
    expect(state.promised).toEqual(ballot(3, 'n1'))
    // A late fsync of the lost install must not resurrect it.
    syncs[2]?.()
    expectSnapshot(await storage.loadSnapshot(), first)
  })

  it('makes an install durable only when its fsync completes, with the earlier writes', async () => {
    const { storage, syncs } = manual()
    const s = snapshot(3)
    const persisted = outcome(storage.persist({ commitIndex: 1, entries: entries(1, 6) }))
    const install = outcome(storage.installSnapshot(s.meta, s.state))
    expect(await storage.loadSnapshot()).toBeUndefined()
    syncs[1]?.()
    await flush()
    expect([persisted.state, install.state]).toEqual(['resolved', 'resolved'])
    expectSnapshot(await storage.loadSnapshot(), s)
    expect(sortedLog(await storage.load())).toEqual(entries(4, 6))
  })

  it('checks compact and stale installs against snapshots still pending, and a crash loses both', async () => {
    const { storage, syncs } = manual()
    const seeded = storage.persist({ commitIndex: 9, entries: entries(1, 9) })
    syncs[0]?.()
    await seeded
    const s = snapshot(6)
    const install = outcome(storage.installSnapshot(s.meta, s.state))
    // Allowed: applied after the pending install, in call order.
    const compaction = outcome(storage.compact(6))
    await expect(storage.compact(7)).rejects.toMatchObject({ code: 'ERR_COMPACT_BEYOND_SNAPSHOT', snapshotIndex: 6 })
    const older = snapshot(5)
    await expect(storage.installSnapshot(older.meta, older.state)).rejects.toMatchObject({ code: 'ERR_STALE_SNAPSHOT', storedIndex: 6 })
    expect(storage.crash()).toBe(2)
    await flush()
    expect(install.error).toBeInstanceOf(StorageCrashedError)
    expect(compaction.error).toBeInstanceOf(StorageCrashedError)
    expect(await storage.loadSnapshot()).toBeUndefined()
    expect(sortedLog(await storage.load())).toEqual(entries(1, 9))
    // After the crash the lost snapshot no longer counts: an older one is fine now.
    const retry = outcome(storage.installSnapshot(older.meta, older.state))
    syncs[syncs.length - 1]?.()
    await flush()
    expect(retry.state).toBe('resolved')
  })

  it('shares no buffer with the caller in either direction', async () => {
    const storage = new MemoryStorage()
    const s = snapshot(2)
    const state = s.state.slice()
    await storage.installSnapshot(s.meta, state)
    state.fill(1)
    const loaded = await storage.loadSnapshot()
    loaded!.state.fill(2)
    expectSnapshot(await storage.loadSnapshot(), s)
  })
})
