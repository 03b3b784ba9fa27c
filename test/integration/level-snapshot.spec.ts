import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { LevelStorage } from '../../src/storage/level-storage.js'
import { KvStateMachine } from '../../src/sim/kv.js'
import type { KvAnswer, KvCommand, KvQuery, KvResult } from '../../src/sim/kv.js'
import { Prng } from '../../src/sim/prng.js'
import { Scheduler } from '../../src/sim/scheduler.js'
import { SimClock } from '../../src/sim/sim-clock.js'
import { SimNetwork } from '../../src/sim/sim-network.js'
import { VirtualPeer } from '../../src/vpeer/virtual-peer.js'
import type { WireMessage } from '../../src/vpeer/snapshot-transfer.js'

// A snapshot taken by the runtime lands in LevelDB (one batch, log ≤ index dropped), and a peer
// rebuilt from the folder starts from it and replays only the log above it.

let dir: string
beforeEach(async () => { dir = await fs.mkdtemp(path.join(os.tmpdir(), 'vpeer-snap-')) })
afterEach(async () => { await fs.rm(dir, { recursive: true, force: true }) })

type Peer = VirtualPeer<KvCommand, KvResult, KvQuery, KvAnswer>

async function boot (storage: LevelStorage, sm: KvStateMachine, scheduler: Scheduler, network: SimNetwork<WireMessage>, incarnation: number): Promise<Peer> {
  const peer = await VirtualPeer.create<KvCommand, KvResult, KvQuery, KvAnswer>({
    id: 'a',
    configuration: { epoch: 0, voters: ['a'], learners: [] },
    transport: network.endpoint('a'),
    storage,
    clock: new SimClock(scheduler),
    stateMachine: sm,
    random: new Prng(incarnation),
    clientId: `a/${incarnation}`,
    paxos: { batchCommandsMax: 1 },
    snapshotEverySlots: 20,
    logRetentionSlots: 5
  })
  peer.start()
  return peer
}

/** Runs virtual time in small steps, letting LevelDB's real I/O complete between them. */
async function until (scheduler: Scheduler, cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 5000 && !cond(); i++) {
    await scheduler.runUntilAsync(scheduler.now() + 5)
    await new Promise(resolve => setTimeout(resolve, 1))
  }
  if (!cond()) throw new Error(`timed out waiting for ${what}`)
}

describe('snapshots over LevelStorage', () => {
  it('a peer restarted from its folder loads the snapshot and replays only the log above it', async () => {
    const scheduler = new Scheduler()
    const network = new SimNetwork<WireMessage>(scheduler, new Prng(1).fork('network'))
    const folder = path.join(dir, 'a')
    let storage = await LevelStorage.open(folder)
    const sm = new KvStateMachine()
    const peer = await boot(storage, sm, scheduler, network, 1)
    await until(scheduler, () => peer.status().role === 'leader', 'leadership')
    for (let i = 1; i <= 50; i++) {
      let done = false
      const p = peer.submit({ f: 'write', key: `k${i % 5}`, value: i }).finally(() => { done = true })
      await until(scheduler, () => done, `write ${i}`)
      await p
    }
    await until(scheduler, () => peer.status().snapshotIndex >= 40, 'a snapshot at ≥ 40')
    const before = peer.status()
    const digest = sm.digest()
    expect(before.compactedThrough).toBe(before.snapshotIndex - 5)
    await peer.stop()
    await storage.close()

    storage = await LevelStorage.open(folder)
    const stored = await storage.loadSnapshot()
    expect(stored?.meta.index).toBe(before.snapshotIndex)
    const durable = await storage.load()
    expect([...durable.log.keys()].every(slot => slot > before.snapshotIndex)).toBe(true)

    const sm2 = new KvStateMachine()
    network.disconnect('a')
    network.reconnect('a')
    const again = await boot(storage, sm2, scheduler, network, 2)
    expect(again.status().snapshotIndex).toBe(before.snapshotIndex)
    expect(again.applied).toBe(durable.commitIndex)
    expect(sm2.digest()).toBe(digest)
    await again.stop()
    await storage.close()
  })
})
