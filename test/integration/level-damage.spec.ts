import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  DAMAGE_MARKER_FILE,
  DamagedStorageError,
  LevelStorage,
  StorageWriteError
} from '../../src/storage/index.js'
import { logKey, META_KEY } from '../../src/storage/keys.js'
import { Witness } from '../../src/storage/witness.js'
import { KvStateMachine } from '../../src/sim/kv.js'
import type { KvAnswer, KvCommand, KvQuery, KvResult } from '../../src/sim/kv.js'
import { Prng } from '../../src/sim/prng.js'
import { Scheduler } from '../../src/sim/scheduler.js'
import { SimClock } from '../../src/sim/sim-clock.js'
import { SimNetwork } from '../../src/sim/sim-network.js'
import { VirtualPeer } from '../../src/vpeer/virtual-peer.js'
import type { WireMessage } from '../../src/vpeer/snapshot-transfer.js'
import { ballot, entries, sortedLog } from '../compliance/storage.js'

// Issue 7 §3, found from outside: one voter, 20 writes, the folder edited, the node restarted.
// Each of these used to start the node with a silently changed state; now VirtualPeer.create
// rejects with a DamagedStorageError that says what was found and what to do.

type Peer = VirtualPeer<KvCommand, KvResult, KvQuery, KvAnswer>
let root: string
let written: string

async function create (storage: LevelStorage, scheduler: Scheduler, network: SimNetwork<WireMessage>): Promise<Peer> {
  return await VirtualPeer.create<KvCommand, KvResult, KvQuery, KvAnswer>({
    id: 'a',
    configuration: { epoch: 0, voters: ['a'], learners: [] },
    transport: network.endpoint('a'),
    storage,
    clock: new SimClock(scheduler),
    stateMachine: new KvStateMachine(),
    random: new Prng(1),
    clientId: 'a/1',
    paxos: { batchCommandsMax: 1 }
  })
}

async function until (scheduler: Scheduler, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 5000 && !cond(); i++) {
    await scheduler.runUntilAsync(scheduler.now() + 5)
    await new Promise(resolve => setTimeout(resolve, 1))
  }
  if (!cond()) throw new Error('timed out')
}

async function raw (dir: string, fn: (db: Level<Uint8Array, Uint8Array>) => Promise<void>): Promise<void> {
  const db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view', createIfMissing: false })
  await db.open()
  try {
    await fn(db)
  } finally {
    await db.close()
  }
}

async function copy (name: string): Promise<string> {
  const dir = join(root, name)
  await cp(written, dir, { recursive: true })
  return dir
}

async function createFails (dir: string): Promise<DamagedStorageError> {
  const storage = await LevelStorage.open(dir).catch((err: unknown) => err)
  if (!(storage instanceof LevelStorage)) {
    expect(storage).toBeInstanceOf(DamagedStorageError)
    return storage as DamagedStorageError
  }
  const scheduler = new Scheduler()
  try {
    const error = await create(storage, scheduler, new SimNetwork<WireMessage>(scheduler, new Prng(1).fork('n'))).catch((err: unknown) => err)
    expect(error).toBeInstanceOf(DamagedStorageError)
    return error as DamagedStorageError
  } finally {
    await storage.close()
  }
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'vpeer-damage-'))
  written = join(root, 'written')
  const scheduler = new Scheduler()
  const network = new SimNetwork<WireMessage>(scheduler, new Prng(1).fork('n'))
  const storage = await LevelStorage.open(written)
  const peer = await create(storage, scheduler, network)
  peer.start()
  await until(scheduler, () => peer.status().role === 'leader')
  for (let i = 1; i <= 20; i++) {
    const done = peer.submit({ f: 'write', key: `k${i % 3}`, value: i })
    let settled = false
    void done.finally(() => { settled = true })
    await until(scheduler, () => settled)
  }
  await peer.stop()
  await storage.close()
}, 60_000)

afterAll(async () => { await rm(root, { recursive: true, force: true }) })

describe('VirtualPeer.create on a damaged LevelStorage folder', () => {
  it('the folder as written starts (the premise)', async () => {
    const storage = await LevelStorage.open(await copy('intact'))
    const state = await storage.load()
    expect(state.commitIndex).toBeGreaterThanOrEqual(20)
    expect(state.promised.round).toBeGreaterThanOrEqual(1)
    await storage.close()
  })

  it('refuses a deleted meta key (it used to restart with promise round 0 and an empty state)', async () => {
    const dir = await copy('no-meta')
    await raw(dir, async (db) => { await db.del(META_KEY) })
    const error = await createFails(dir)
    expect(error).toMatchObject({ code: 'ERR_INCOMPLETE_STATE', key: 'meta' })
    expect(error.message).toMatch(/meta record is missing/)
    expect(error.message).toMatch(/must not vote/)
  })

  it('refuses every single-byte flip of the meta record and of a log entry', async () => {
    for (const key of [META_KEY, logKey(5)]) {
      const original = await (async () => {
        let value: Uint8Array | undefined
        await raw(await copy('probe'), async (db) => { value = await db.get(key) })
        await rm(join(root, 'probe'), { recursive: true, force: true })
        return value!
      })()
      for (let at = 0; at < original.byteLength; at++) {
        const dir = await copy(`flip-${at}`)
        await raw(dir, async (db) => {
          const bytes = Uint8Array.from(original)
          bytes[at] = bytes[at]! ^ 0x01
          await db.put(key, bytes)
        })
        const error = await createFails(dir)
        expect(['ERR_CORRUPT_RECORD', 'ERR_UNSUPPORTED_FORMAT']).toContain(error.code)
        await rm(dir, { recursive: true, force: true })
      }
    }
  })

  it('refuses slot 4\'s record copied onto slot 5', async () => {
    const dir = await copy('copied')
    await raw(dir, async (db) => { await db.put(logKey(5), (await db.get(logKey(4)))!) })
    expect(await createFails(dir)).toMatchObject({ code: 'ERR_CORRUPT_RECORD', key: 'log/5' })
  })

  it('refuses a bit flipped in LevelDB\'s write-ahead log, and keeps refusing once LevelDB has deleted the evidence', async () => {
    const dir = await copy('wal')
    const log = (await readdir(dir)).find((file) => file.endsWith('.log'))!
    const bytes = await readFile(join(dir, log))
    bytes[20] = bytes[20]! ^ 0x04
    await writeFile(join(dir, log), bytes)
    const error = await createFails(dir)
    expect(error).toMatchObject({ code: 'ERR_CORRUPT_DATABASE', key: 'LOG' })
    // LevelDB's own line, pinned: if a LevelDB upgrade rewords it, this test says so.
    expect(error.reason).toMatch(/dropping \d+ bytes; Corruption: checksum mismatch/)
    expect(JSON.parse(await readFile(join(dir, DAMAGE_MARKER_FILE), 'utf8'))).toMatchObject({ code: 'ERR_CORRUPT_DATABASE' })
    expect(await createFails(dir)).toMatchObject({ code: 'ERR_CORRUPT_DATABASE', key: DAMAGE_MARKER_FILE })
  })
})

describe('LevelStorage and its witness', () => {
  it('a batch durable in LevelDB but not in the witness fails the call, refuses later writes, and is accepted on reopen', async () => {
    const dir = join(root, 'witness-fail')
    const storage = await LevelStorage.open(dir)
    await storage.persist({ promised: ballot(1, 'a'), commitIndex: 2, entries: entries(1, 3) })
    const spy = vi.spyOn(Witness.prototype, 'write').mockRejectedValueOnce(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }))
    await expect(storage.persist({ commitIndex: 3, entries: entries(4, 4) })).rejects.toBeInstanceOf(StorageWriteError)
    spy.mockRestore()
    await expect(storage.persist({ entries: entries(5, 5) })).rejects.toMatchObject({ code: 'ERR_STORAGE_WRITE' })
    await storage.close()
    // The database is one batch ahead of the witness: what a crash between the two looks like.
    const reopened = await LevelStorage.open(dir)
    const state = await reopened.load()
    expect(state.commitIndex).toBe(3)
    expect(sortedLog(state)).toEqual(entries(1, 4))
    await reopened.persist({ entries: entries(5, 5) })
    await reopened.close()
    // The witness was brought up to date on open: the next open sees no gap either.
    const again = await LevelStorage.open(dir)
    expect(sortedLog(await again.load())).toEqual(entries(1, 5))
    await again.close()
  })

  it('refuses a database of the earlier unframed format (version 1) with ERR_UNSUPPORTED_FORMAT', async () => {
    const dir = join(root, 'format-1')
    const db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' })
    await db.open()
    await db.put(META_KEY, Uint8Array.of(1, 0x4d, 1, 1, 0x61, 0))
    await db.close()
    await expect(LevelStorage.open(dir)).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED_FORMAT', version: 1 })
  })
})
