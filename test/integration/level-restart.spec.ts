import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { PaxosNode } from '../../src/paxos/node.js'
import type { RandomSource } from '../../src/paxos/node.js'
import type { Envelope, PaxosMessage } from '../../src/paxos/messages.js'
import type { Ballot, Configuration, LogEntry, NodeId, Slot, Value } from '../../src/paxos/types.js'
import { emptyDurableState } from '../../src/paxos/types.js'
import { LevelStorage } from '../../src/storage/level-storage.js'
import type { KvCommand } from '../../src/sim/kv.js'
import { PeerWorld } from '../unit/vpeer/world.js'

// The classic Paxos acceptor bug: an acceptor that forgets, across a restart, what it promised
// or what it accepted can let two different values be chosen for one slot. Acceptors persist
// `promised` and every `accepted` before replying (DESIGN.md; Reference: PMMC §3, acceptor
// state), so a node rebuilt from LevelDB must keep both.

const configuration: Configuration = { epoch: 0, voters: ['a', 'b', 'c'], learners: [] }
const random: RandomSource = { int: (_min, max) => max - 1 }
const ballot = (round: number, node: string): Ballot => ({ round, node })
const value = (id: string): Value => ({ id, commands: [{ client: 'cl', seq: 1, data: new TextEncoder().encode(`payload ${id}`) }] })

let dir: string
const opened: LevelStorage[] = []

async function openStorage (folder: string): Promise<LevelStorage> {
  const s = await LevelStorage.open(folder)
  opened.push(s)
  return s
}

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'vpeer-'))
})

afterEach(async () => {
  for (const s of opened.splice(0)) await s.close()
  await fs.rm(dir, { recursive: true, force: true })
})

/** Runs one Ready the way the runtime must: persist durably first, then hand out the messages. */
async function step (node: PaxosNode, storage: LevelStorage, from: NodeId, message: PaxosMessage): Promise<Envelope[]> {
  node.step(from, message)
  const sent: Envelope[] = []
  for (let rd = node.ready(); rd !== undefined; rd = node.ready()) {
    if (rd.persist !== undefined) await storage.persist(rd.persist)
    sent.push(...rd.send)
    node.advance(rd)
  }
  return sent
}

describe('an acceptor restarted from LevelDB', () => {
  it('keeps its promise and every vote: it rejects stale ballots and reports old votes in its promises', async () => {
    const folder = path.join(dir, 'a')
    let storage = await openStorage(folder)
    let node = new PaxosNode({ id: 'a', configuration }, await storage.load(), random)

    expect(await step(node, storage, 'b', { type: 'prepare', ballot: ballot(3, 'b'), fromSlot: 1, transfer: false }))
      .toEqual([{ to: 'b', message: { type: 'promise', ballot: ballot(3, 'b'), commitIndex: 0, entries: [] } }])
    for (const slot of [1, 2, 3]) {
      const sent = await step(node, storage, 'b', { type: 'accept', ballot: ballot(3, 'b'), slot, value: value(`3.b.${slot}`), commitIndex: slot === 3 ? 1 : 0 })
      expect(sent).toContainEqual({ to: 'b', message: { type: 'accepted', ballot: ballot(3, 'b'), slot } })
    }
    // The old leader hands over to c, which re-proposes slot 2 with another value.
    const promise = await step(node, storage, 'c', { type: 'prepare', ballot: ballot(5, 'c'), fromSlot: 2, transfer: true })
    expect(promise).toEqual([{ to: 'c', message: { type: 'promise', ballot: ballot(5, 'c'), commitIndex: 1, entries: [[2, { ballot: ballot(3, 'b'), value: value('3.b.2') }], [3, { ballot: ballot(3, 'b'), value: value('3.b.3') }]] } }])
    expect(await step(node, storage, 'c', { type: 'accept', ballot: ballot(5, 'c'), slot: 2, value: value('5.c.2'), commitIndex: 1 }))
      .toContainEqual({ to: 'c', message: { type: 'accepted', ballot: ballot(5, 'c'), slot: 2 } })

    // Crash: close the database, reopen the same folder, rebuild the node from it alone.
    await storage.close()
    storage = await openStorage(folder)
    const durable = await storage.load()
    const expectedLog = new Map<Slot, LogEntry>([
      [1, { ballot: ballot(3, 'b'), value: value('3.b.1') }],
      [2, { ballot: ballot(5, 'c'), value: value('5.c.2') }],
      [3, { ballot: ballot(3, 'b'), value: value('3.b.3') }]
    ])
    expect(durable.promised).toEqual(ballot(5, 'c'))
    expect(durable.commitIndex).toBe(1)
    expect(durable.log).toEqual(expectedLog)
    node = new PaxosNode({ id: 'a', configuration }, durable, random)
    expect(node.softState().ballot).toEqual(ballot(5, 'c'))
    expect(node.committedValue(1)).toEqual(value('3.b.1'))

    // A prepare below the old promise is rejected, even from the same proposer.
    expect(await step(node, storage, 'b', { type: 'prepare', ballot: ballot(4, 'b'), fromSlot: 1, transfer: false }))
      .toEqual([{ to: 'b', message: { type: 'reject', ballot: ballot(4, 'b'), promised: ballot(5, 'c'), reason: 'promised-higher' } }])
    // So is an accept from the deposed leader.
    expect(await step(node, storage, 'b', { type: 'accept', ballot: ballot(3, 'b'), slot: 2, value: value('3.b.2'), commitIndex: 0 }))
      .toEqual([{ to: 'b', message: { type: 'reject', ballot: ballot(3, 'b'), promised: ballot(5, 'c'), reason: 'promised-higher' } }])
    // A higher prepare learns the old votes above the commit index, with their ballots.
    expect(await step(node, storage, 'b', { type: 'prepare', ballot: ballot(6, 'b'), fromSlot: 1, transfer: false }))
      .toEqual([{ to: 'b', message: { type: 'promise', ballot: ballot(6, 'b'), commitIndex: 1, entries: [[2, expectedLog.get(2)], [3, expectedLog.get(3)]] } }])

    // And that promise is itself durable.
    await storage.close()
    storage = await openStorage(folder)
    expect((await storage.load()).promised).toEqual(ballot(6, 'b'))
  })

  it('a node that never persisted anything starts from the bottom ballot (the folder is new)', async () => {
    const storage = await openStorage(path.join(dir, 'fresh'))
    expect(await storage.load()).toEqual(emptyDurableState())
  })
})

describe('a 3-node VirtualPeer cluster over LevelStorage', () => {
  const ids = ['n1', 'n2', 'n3']
  const folderOf = (id: NodeId): string => path.join(dir, id)
  const write = (key: string, v: number): KvCommand => ({ f: 'write', key, value: v })

  async function makeWorld (): Promise<{ world: PeerWorld, storages: Map<NodeId, LevelStorage> }> {
    const storages = new Map<NodeId, LevelStorage>()
    for (const id of ids) storages.set(id, await openStorage(folderOf(id)))
    const world = new PeerWorld({ ids, seed: 3 }, id => storages.get(id) as LevelStorage)
    return { world, storages }
  }

  it('a node restarted from its LevelDB folder replays the same state; so does the whole cluster', async () => {
    const { world, storages } = await makeWorld()
    await world.bootAll()
    const leader = await world.electLeader()
    const follower = ids.find(id => id !== leader) as NodeId
    for (let i = 1; i <= 6; i++) {
      const via = ids[i % ids.length] as NodeId
      expect(await world.settle(world.peer(via).submit(write(`k${i % 4}`, i)))).toEqual({ ok: true })
    }
    await world.runFor(300)
    const digest = world.digest(leader)
    expect(JSON.parse(digest)).toEqual([['k0', 4], ['k1', 5], ['k2', 6], ['k3', 3]])
    for (const id of ids) expect(world.digest(id)).toBe(digest)
    const commitBefore = world.peer(follower).status().commitIndex

    // Kill the follower, close its database, reopen the folder, and boot it from there.
    world.crash(follower)
    await storages.get(follower)?.close()
    const reopened = await openStorage(folderOf(follower))
    const durable = await reopened.load()
    expect(durable.commitIndex).toBe(commitBefore)
    expect(durable.log.size).toBeGreaterThanOrEqual(commitBefore)
    world.setStorage(follower, reopened)
    const restarted = await world.boot(follower)
    // Replayed from its own log alone: no virtual time has passed, so no message has arrived.
    expect(restarted.applied).toBe(commitBefore)
    expect(world.digest(follower)).toBe(digest)

    // The group keeps working with it, and it learns the new write.
    expect(await world.settle(restarted.submit(write('k9', 9)))).toEqual({ ok: true })
    await world.runFor(300)
    const digest2 = world.digest(leader)
    for (const id of ids) expect(world.digest(id)).toBe(digest2)

    // Stop everything, reopen every folder, and rebuild the cluster from disk alone.
    await world.stopAll()
    for (const s of opened.splice(0)) await s.close()
    const again = await makeWorld()
    await again.world.bootAll()
    for (const id of ids) expect(again.world.digest(id)).toBe(digest2)
    await again.world.electLeader()
    expect(await again.world.settle(again.world.peer('n1').read({ key: 'k9' }))).toBe(9)
    await again.world.stopAll()
  })
})
