import { describe, expect, it } from 'vitest'
import { SimCluster } from '../../src/sim/cluster.js'
import type { KvPeer } from '../../src/sim/cluster.js'
import { reconfigCommand } from '../../src/paxos/reconfiguration.js'
import type { NodeId } from '../../src/paxos/types.js'
import type { Transport } from '../../src/contracts/index.js'
import { MAX_ROUND } from '../../src/vpeer/message-validation.js'
import type { WireMessage } from '../../src/vpeer/snapshot-transfer.js'
import { markCount } from '../../src/util/marks.js'
import { runUntilSettled } from '../unit/vpeer/world.js'
import { expectNotInstalled, forgedSnapshotWorld } from './forged-snapshot.js'

// Issue 7 §2: well-formed messages that pass the boundary and that only the core can refuse.
// These expect the core fix (catch-up only from a requested peer for a requested range, bounds
// on reported commit indexes and slots, ballot-round overflow); they fail on the core before it.

interface World {
  readonly cluster: SimCluster
  readonly leader: NodeId
  readonly followers: NodeId[]
  readonly peer: (id: NodeId) => KvPeer
  /** Delivers `message` to `to`'s transport handler as if `from` had sent it. */
  readonly inject: (from: NodeId, to: NodeId, message: unknown) => void
  readonly write: (via: NodeId, value: number, limitMs?: number) => Promise<void>
}

async function world (seed = 7): Promise<World> {
  const handlers = new Map<NodeId, (from: NodeId, m: unknown) => void>()
  const cluster = new SimCluster({
    seed,
    nodes: 3,
    wrapTransport: (id: NodeId, inner: Transport<WireMessage>): Transport<WireMessage> => ({
      send: (to, m) => { inner.send(to, m) },
      onMessage: h => { handlers.set(id, h as (from: NodeId, m: unknown) => void); return inner.onMessage(h) }
    })
  })
  await cluster.start()
  for (let t = 0; t < 300 && cluster.leader() === undefined; t++) await cluster.scheduler.runForAsync(10)
  const leader = cluster.leader()
  if (leader === undefined) throw new Error('no leader')
  await cluster.scheduler.runForAsync(100)
  const peer = (id: NodeId): KvPeer => {
    const p = cluster.peer(id)
    if (p === undefined) throw new Error(`${id} is down`)
    return p
  }
  let seq = 0
  const w: World = {
    cluster,
    leader,
    followers: cluster.ids.filter(id => id !== leader),
    peer,
    inject: (from, to, message) => { handlers.get(to)?.(from, message) },
    write: async (via, value, limitMs = 2000) => {
      await runUntilSettled(cluster.scheduler, peer(via).submit({ f: 'write', key: 'k', value }, { session: { client: 'test', seq: ++seq } }), limitMs)
    }
  }
  for (let i = 1; i <= 5; i++) await w.write(leader, i)
  return w
}

describe('attacks only the core can refuse (expects the core fix)', () => {
  it('a stranger\'s unsolicited catchupReply for slot commit+1 is applied nowhere', async () => {
    const w = await world()
    const victim = w.followers[0] as NodeId
    const c = w.peer(victim).status().commitIndex
    const forged = { id: 'evil.1', commands: [{ client: 'evil', seq: 1, data: new TextEncoder().encode(JSON.stringify({ f: 'write', key: 'k', value: 666 })) }] }
    w.inject('evil', victim, { type: 'catchupReply', entries: [[c + 1, { ballot: { round: 1, node: 'evil' }, value: forged }]], commitIndex: c + 1 })
    for (let i = 0; i < 5; i++) await w.write(w.leader, 100 + i)
    await w.cluster.scheduler.runForAsync(500)
    for (const id of w.cluster.ids) {
      for (let s = 1; s <= w.peer(id).status().commitIndex; s++) expect(w.peer(id).committedValue(s)?.id, `${id} slot ${s}`).not.toBe('evil.1')
      expect(w.cluster.digest(id)).not.toContain('666')
    }
    expect(w.cluster.checker.violations.filter(v => v.kind !== 'validity')).toEqual([])
    w.cluster.haltAll()
  })

  it('a stranger\'s catchupReply for the slot the leader has in flight does not halt the leader', async () => {
    // Found by the fuzzer (byzantine class, 5 nodes, seed 502), reduced to one message: today
    // the leader commits the forged value, then pruneLeaderBelowCommit asserts
    // "catch-up value at slot N contradicts this leader's proposal" and the replica halts.
    const w = await world()
    const leader = w.peer(w.leader)
    const errors: unknown[] = []
    leader.addEventListener('error', e => { errors.push(e.detail.error) })
    const c = leader.status().commitIndex
    const pending = leader.submit({ f: 'write', key: 'k', value: 7 }, { session: { client: 'test', seq: 1000 } })
    pending.catch(() => {})
    expect(leader.status().inflightSlots).toBeGreaterThan(0)
    w.inject('evil', w.leader, { type: 'catchupReply', entries: [[c + 1, { ballot: { round: 1, node: 'evil' }, value: { id: 'forged', commands: [] } }]], commitIndex: c + 1 })
    await w.cluster.scheduler.runForAsync(10)
    expect(errors).toEqual([])
    expect(leader.running).toBe(true)
    await runUntilSettled(w.cluster.scheduler, pending, 2000)
    for (const id of w.cluster.ids) expect(w.peer(id).committedValue(c + 1)?.id).not.toBe('forged')
    w.cluster.haltAll()
  })

  it('a forged reconfiguration in a stranger\'s catchupReply makes the stranger a voter nowhere', async () => {
    const w = await world()
    const c = Math.max(...w.cluster.ids.map(id => w.peer(id).status().commitIndex))
    const entries = [1, 2, 3].map(i => [c + i, {
      ballot: { round: 1, node: 'evil' },
      value: { id: `evil.cfg.${i}`, commands: [reconfigCommand('evil', i, { expectEpoch: 0, change: { kind: 'addVoter', node: 'evil' } })] }
    }])
    for (const to of w.cluster.ids) w.inject('evil', to, { type: 'catchupReply', entries, commitIndex: c + 3 })
    for (let i = 0; i < 5; i++) await w.write(w.leader, 200 + i)
    await w.cluster.scheduler.runForAsync(500)
    for (const id of w.cluster.ids) {
      const s = w.peer(id).status()
      expect([...s.configuration.voters, ...s.configuration.learners], id).not.toContain('evil')
    }
    w.cluster.haltAll()
  })

  it('a forged heartbeatAck with commitIndex 1e12 to the leader stalls neither submits nor reads', async () => {
    const w = await world()
    const leader = w.peer(w.leader)
    w.inject(w.followers[0] as NodeId, w.leader, { type: 'heartbeatAck', ballot: leader.status().ballot, readSeq: 0, commitIndex: 1e12 })
    const start = w.cluster.scheduler.now()
    await w.write(w.leader, 300, 1000)
    expect(await runUntilSettled(w.cluster.scheduler, leader.read({ key: 'k' }), 1000)).toBe(300)
    await w.write(w.followers[1] as NodeId, 301, 1000)
    expect(await runUntilSettled(w.cluster.scheduler, w.peer(w.followers[1] as NodeId).read({ key: 'k' }), 1000)).toBe(301)
    expect(w.cluster.scheduler.now() - start).toBeLessThan(1000)
    w.cluster.haltAll()
  })

  it('a member\'s accept for slot 1e9 does not make the log huge, and the group goes on', async () => {
    const w = await world()
    const from = w.followers[0] as NodeId
    const to = w.followers[1] as NodeId
    const round = w.peer(to).status().ballot.round + 1
    w.inject(from, to, { type: 'accept', ballot: { round, node: from }, slot: 1e9, value: { id: 'far', commands: [] }, commitIndex: 0 })
    // Checked before anything else runs: today a promise from this acceptor walks 1e9 slots.
    expect(w.peer(to).status().lastSlot).toBeLessThan(1e6)
    await w.cluster.scheduler.runForAsync(1000)
    await w.write(w.cluster.leader() ?? w.leader, 400, 3000)
    for (const id of w.cluster.ids) expect(w.peer(id).running).toBe(true)
    w.cluster.haltAll()
  })

  it('a prepare with round MAX_ROUND from a member does not exhaust the rounds: after the leader crashes a new one is elected and commits', async () => {
    const w = await world()
    // Every follower sends it to every other member. (A prepare from the leader itself is
    // promised: followers take up their leader's new ballot, so a lying leader can exhaust the
    // rounds; Paxos tolerates crashes, not lies, and the network layer keeps strangers out.)
    for (const from of w.cluster.ids.filter(id => id !== w.leader)) {
      for (const to of w.cluster.ids) if (to !== from) w.inject(from, to, { type: 'prepare', ballot: { round: MAX_ROUND, node: from }, fromSlot: 1, transfer: false })
    }
    await w.cluster.scheduler.runForAsync(100)
    w.cluster.crash(w.leader)
    let next: NodeId | undefined
    for (let t = 0; t < 300 && next === undefined; t++) {
      await w.cluster.scheduler.runForAsync(10)
      next = w.cluster.leader()
    }
    expect(next, 'a leader after the crash').toBeDefined()
    await w.write(next as NodeId, 500, 3000)
    for (const id of w.cluster.upIds()) expect(w.peer(id).running).toBe(true)
    w.cluster.haltAll()
  })

  it('a stranger that claims a high commit index is not asked for catch-up, so its forged snapshot is never installed', async () => {
    const w = await forgedSnapshotWorld()
    const installsBefore = markCount('vpeer: snapshot installed from a peer')
    w.bait()
    await w.cluster.scheduler.runForAsync(20)
    w.offer()
    await w.cluster.scheduler.runForAsync(1000)
    await expectNotInstalled(w, installsBefore)
  })
})
