import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SimCluster } from '../../../src/sim/cluster.js'
import type { KvPeer } from '../../../src/sim/cluster.js'
import type { KvCommand } from '../../../src/sim/kv.js'
import { MemoryStorage } from '../../../src/storage/memory-storage.js'
import { StorageWriteError } from '../../../src/storage/errors.js'
import { AbortError, BusyError, CommandTooLargeError, NotStartedError, StoppedError, VirtualPeerError } from '../../../src/vpeer/errors.js'
import type { NodeId } from '../../../src/paxos/types.js'
import { PeerWorld, rejectionOf, runUntilSettled } from './world.js'

const write = (key: string, value: number): KvCommand => ({ f: 'write', key, value })
const cas = (key: string, expected: number | null, value: number): KvCommand => ({ f: 'cas', key, expected, value })

function expectTyped (error: unknown, type: abstract new (...args: never[]) => Error, code: string): void {
  expect(error).toBeInstanceOf(type)
  expect((error as { code?: unknown }).code).toBe(code)
}

describe('VirtualPeer in a fault-free 3-node SimCluster', () => {
  let cluster: SimCluster
  let leader: NodeId
  let followers: NodeId[]

  const peer = (id: NodeId): KvPeer => {
    const p = cluster.peer(id)
    if (p === undefined) throw new Error(`${id} is down`)
    return p
  }
  const settle = async <T>(p: Promise<T>, limitMs?: number): Promise<T> => await runUntilSettled(cluster.scheduler, p, limitMs)

  beforeEach(async () => {
    cluster = new SimCluster({ seed: 42, nodes: 3, paxos: { batchBytesMax: 256 } })
    await cluster.start()
    for (let t = 0; t < 200 && cluster.leader() === undefined; t++) await cluster.scheduler.runForAsync(10)
    const l = cluster.leader()
    if (l === undefined) throw new Error('no leader')
    leader = l
    followers = cluster.ids.filter(id => id !== l)
    // Let every follower hear the leader.
    await cluster.scheduler.runForAsync(100)
  })

  afterEach(() => {
    cluster.haltAll()
  })

  it('submit resolves with the state machine\'s result, on the leader and through a follower', async () => {
    expect(await settle(peer(leader).submit(write('x', 1)))).toEqual({ ok: true })
    expect(await settle(peer(followers[0] as NodeId).submit(cas('x', 1, 2)))).toEqual({ ok: true })
    expect(await settle(peer(followers[1] as NodeId).submit(cas('x', 1, 3)))).toEqual({ ok: false })
    await cluster.scheduler.runForAsync(200)
    for (const id of cluster.ids) expect(cluster.digest(id)).toBe(JSON.stringify([['x', 2]]))
    expect(cluster.checker.violations.filter(v => v.kind !== 'validity')).toEqual([])
  })

  // Client sessions: a retried (client, seq) is applied once and answered with the remembered result.
  it('two submits with the same explicit session apply once and both get the remembered result', async () => {
    const session = { client: 'alice', seq: 1 }
    const a = peer(leader)
    expect(await settle(a.submit(write('k', 1), { session }))).toEqual({ ok: true })
    // Someone else moves k on; re-applying alice's write would move it back to 1.
    expect(await settle(a.submit(write('k', 2), { session: { client: 'bob', seq: 1 } }))).toEqual({ ok: true })
    expect(await settle(a.submit(write('k', 1), { session }))).toEqual({ ok: true })
    expect(await settle(a.read({ key: 'k' }))).toBe(2)
  })

  it('a retry of the same session on another node gets the remembered result, without re-applying', async () => {
    const session = { client: 'carol', seq: 7 }
    const first = peer(followers[0] as NodeId)
    const second = peer(followers[1] as NodeId)
    // The cas succeeds once; applying it a second time would answer { ok: false }.
    expect(await settle(first.submit(cas('c', null, 1), { session }))).toEqual({ ok: true })
    expect(await settle(first.submit(write('c', 5), { session: { client: 'dave', seq: 1 } }))).toEqual({ ok: true })
    expect(await settle(second.submit(cas('c', null, 1), { session }))).toEqual({ ok: true })
    await cluster.scheduler.runForAsync(200)
    for (const id of cluster.ids) expect(cluster.digest(id)).toBe(JSON.stringify([['c', 5]]))
  })

  it('concurrent retries of one session on all three nodes run the command once per replica', async () => {
    const session = { client: 'erin', seq: 1 }
    const before = cluster.checker.commandsApplied
    const results = await settle(Promise.all(cluster.ids.map(id => peer(id).submit(cas('e', null, 9), { session }))))
    expect(results).toEqual([{ ok: true }, { ok: true }, { ok: true }])
    await cluster.scheduler.runForAsync(200)
    // Each of the 3 replicas ran the command exactly once, however many times it was ordered.
    expect(cluster.checker.commandsApplied - before).toBe(3)
    expect(cluster.checker.violations.filter(v => v.kind === 'integrity')).toEqual([])
  })

  it('read returns the latest acknowledged write, on any node', async () => {
    expect(await settle(peer(followers[0] as NodeId).read({ key: 'r' }))).toBeNull()
    for (const [i, writer] of [leader, ...followers].entries()) {
      await settle(peer(writer).submit(write('r', i + 10)))
      for (const reader of cluster.ids) expect(await settle(peer(reader).read({ key: 'r' }))).toBe(i + 10)
    }
  })

  it('status() reports role, leader, ballot, commitIndex and appliedIndex', async () => {
    await settle(peer(leader).submit(write('s', 1)))
    await settle(peer(leader).submit(write('s', 2)))
    await cluster.scheduler.runForAsync(200)
    const ls = peer(leader).status()
    expect(ls).toMatchObject({ id: leader, role: 'leader', leader, running: true, pendingCommands: 0, pendingReads: 0 })
    expect(ls.ballot.node).toBe(leader)
    expect(ls.ballot.round).toBeGreaterThan(0)
    expect(ls.commitIndex).toBeGreaterThanOrEqual(2)
    expect(ls.appliedIndex).toBe(ls.commitIndex)
    expect(ls.peers.map(p => p.id).sort()).toEqual([...followers].sort())
    for (const f of followers) {
      const fs = peer(f).status()
      expect(fs).toMatchObject({ id: f, role: 'follower', leader, ballot: ls.ballot, commitIndex: ls.commitIndex, appliedIndex: ls.commitIndex })
      expect(peer(f).applied).toBe(ls.commitIndex)
    }
  })

  it('halt() rejects pending submits and reads with StoppedError, and later calls too', async () => {
    const cut = followers[0] as NodeId
    cluster.network.partition([[cut], cluster.ids.filter(id => id !== cut)])
    const p = peer(cut)
    const submit = rejectionOf(p.submit(write('h', 1)))
    const read = rejectionOf(p.read({ key: 'h' }))
    await cluster.scheduler.runForAsync(50)
    expect(p.status().pendingCommands).toBe(1)
    expect(p.status().pendingReads).toBe(1)
    p.halt()
    for (const op of [submit, read]) expectTyped(await op, StoppedError, 'ERR_STOPPED')
    expect(p.running).toBe(false)
    expectTyped(await rejectionOf(p.submit(write('h', 2))), StoppedError, 'ERR_STOPPED')
    expectTyped(await rejectionOf(p.read({ key: 'h' })), StoppedError, 'ERR_STOPPED')
  })

  it('stop() rejects a pending submit with StoppedError and resolves', async () => {
    cluster.network.partition([[leader], followers])
    const p = peer(leader)
    const submit = rejectionOf(p.submit(write('st', 1)))
    await cluster.scheduler.runForAsync(20)
    expect(p.status().pendingCommands).toBe(1)
    await settle(p.stop())
    expectTyped(await submit, StoppedError, 'ERR_STOPPED')
    expect(p.status().running).toBe(false)
  })

  it('rejects a command larger than batchBytesMax with CommandTooLargeError', async () => {
    const error = await rejectionOf(peer(leader).submit(write('k'.repeat(300), 1)))
    expectTyped(error, CommandTooLargeError, 'ERR_COMMAND_TOO_LARGE')
    expect(error).toBeInstanceOf(VirtualPeerError)
    expect(peer(leader).status().pendingCommands).toBe(0)
  })

  it('an aborted signal rejects a pending submit and a pending read with AbortError', async () => {
    const cut = followers[1] as NodeId
    cluster.network.partition([[cut], cluster.ids.filter(id => id !== cut)])
    const p = peer(cut)
    const controller = new AbortController()
    const submit = rejectionOf(p.submit(write('a', 1), { signal: controller.signal }))
    const read = rejectionOf(p.read({ key: 'a' }, { signal: controller.signal }))
    await cluster.scheduler.runForAsync(50)
    expect(p.status().pendingCommands).toBe(1)
    expect(p.status().pendingReads).toBe(1)
    controller.abort()
    for (const op of [submit, read]) expectTyped(await op, AbortError, 'ERR_ABORTED')
    expect(p.status().pendingCommands).toBe(0)
    expect(p.status().pendingReads).toBe(0)
    expect(p.running).toBe(true)
  })
})

describe('VirtualPeer assembled by hand (PeerWorld)', () => {
  it('submit and read before start() reject with NotStartedError', async () => {
    const world = new PeerWorld({ ids: ['n1', 'n2', 'n3'] }, () => new MemoryStorage())
    const p = await world.boot('n1', false)
    expectTyped(await rejectionOf(p.submit(write('x', 1))), NotStartedError, 'ERR_NOT_STARTED')
    expectTyped(await rejectionOf(p.read({ key: 'x' })), NotStartedError, 'ERR_NOT_STARTED')
    expect(p.running).toBe(false)
  })

  it('fires leader events: each peer learns who leads, the leader that it leads', async () => {
    const world = new PeerWorld({ ids: ['n1', 'n2', 'n3'], seed: 5 }, () => new MemoryStorage())
    const events = new Map<NodeId, Array<{ leader: NodeId | undefined, role: string }>>()
    for (const id of world.ids) {
      const p = await world.boot(id, false)
      const seen: Array<{ leader: NodeId | undefined, role: string }> = []
      events.set(id, seen)
      p.addEventListener('leader', e => { seen.push(e.detail) })
      p.start()
    }
    const leader = await world.electLeader()
    for (const id of world.ids) {
      const seen = events.get(id) ?? []
      expect(seen.length).toBeGreaterThan(0)
      expect(seen.at(-1)).toEqual({ leader, role: id === leader ? 'leader' : 'follower' })
    }
  })

  it('a client session may not have more than window/2 commands pending (BusyError)', async () => {
    const world = new PeerWorld({ ids: ['n1', 'n2', 'n3'], sessionWindow: 4 }, () => new MemoryStorage())
    await world.bootAll()
    const leader = await world.electLeader()
    const cut = world.ids.find(id => id !== leader) as NodeId
    world.network.partition([[cut]])
    const p = world.peer(cut)
    const pending = [p.submit(write('b', 1)), p.submit(write('b', 2))]
    for (const op of pending) op.catch(() => {})
    expectTyped(await rejectionOf(p.submit(write('b', 3))), BusyError, 'ERR_BUSY')
    // An explicit session is the caller's business and is not limited.
    const explicit = p.submit(write('b', 4), { session: { client: 'z', seq: 1 } })
    explicit.catch(() => {})
    expect(p.status().pendingCommands).toBe(3)
    await world.stopAll()
  })

  // DESIGN.md: a storage failure must never lose an acknowledged write. The Ready whose persist
  // failed sends nothing (Storage is all-or-nothing), and the peer halts.
  it('a failed persist halts that peer with StorageWriteError and an error event; no acknowledged write is lost', async () => {
    const storages = new Map<NodeId, MemoryStorage>()
    const world = new PeerWorld({ ids: ['n1', 'n2', 'n3'], seed: 9 }, id => {
      const s = new MemoryStorage()
      storages.set(id, s)
      return s
    })
    await world.bootAll()
    const leader = await world.electLeader()
    const lp = world.peer(leader)
    for (let i = 1; i <= 3; i++) expect(await world.settle(lp.submit(write(`k${i}`, i)))).toEqual({ ok: true })

    const errors: unknown[] = []
    lp.addEventListener('error', e => { errors.push(e.detail.error) })
    storages.get(leader)?.failNextPersist()
    const session = { client: 'retry', seq: 1 }
    const failed = await rejectionOf(world.settle(lp.submit(write('k4', 4), { session })))
    expectTyped(failed, StorageWriteError, 'ERR_STORAGE_WRITE')
    expect(errors).toHaveLength(1)
    expectTyped(errors[0], StorageWriteError, 'ERR_STORAGE_WRITE')
    expect(lp.running).toBe(false)
    expectTyped(await rejectionOf(lp.submit(write('k5', 5))), StorageWriteError, 'ERR_STORAGE_WRITE')

    // The others elect a new leader and still hold every acknowledged write; the retry of the
    // failed command through another node is applied (once).
    world.crash(leader)
    const others = world.ids.filter(id => id !== leader)
    const newLeader = await world.electLeader()
    expect(newLeader).not.toBe(leader)
    const op = world.peer(others[0] as NodeId)
    expect(await world.settle(op.submit(write('k4', 4), { session }))).toEqual({ ok: true })
    for (let i = 1; i <= 4; i++) {
      for (const id of others) expect(await world.settle(world.peer(id).read({ key: `k${i}` }))).toBe(i)
    }

    // The failed node restarts from its storage and replays the same state.
    const restarted = await world.boot(leader)
    await world.settle(restarted.read({ key: 'k4' }))
    await world.runFor(500)
    expect(world.digest(leader)).toBe(world.digest(others[0] as NodeId))
    for (let i = 1; i <= 4; i++) expect(await world.settle(restarted.read({ key: `k${i}` }))).toBe(i)
    await world.stopAll()
  })
})
