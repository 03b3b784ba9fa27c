import { describe, it, expect, beforeEach } from 'vitest'
import { CoreCluster } from '../../../src/sim/core-cluster.js'
import { PaxosNode } from '../../../src/paxos/node.js'
import type { Ready } from '../../../src/paxos/node.js'
import type { Command, Configuration, DurableState, LogEntry, NodeId, Slot } from '../../../src/paxos/index.js'
import { BOTTOM_BALLOT } from '../../../src/paxos/types.js'
import { Prng } from '../../../src/sim/prng.js'
import { markCount, resetMarks } from '../../../src/util/marks.js'

const enc = new TextEncoder()
function cmd (client: string, seq: number): Command {
  return { client, seq, data: enc.encode(`${client}:${seq}`) }
}

const CONFIG: Configuration = { epoch: 0, voters: ['a', 'b', 'c'], learners: [] }

/** Commits `n` commands, one per slot (each proposal is stabilized before the next). */
function commitSlots (c: CoreCluster, n: number, client = 'x'): void {
  const leader = c.leader()
  if (leader === undefined) throw new Error('no leader')
  for (let i = 1; i <= n; i++) {
    expect(leader.propose([cmd(client, i)]).kind).toBe('accepted')
    c.stabilize()
  }
  c.tickAndStabilize(3)
}

/** Records the snapshot requests of every Ready `node` hands out. */
function watchSnapshotRequests (node: PaxosNode): NodeId[] {
  const seen: NodeId[] = []
  const ready = node.ready.bind(node)
  node.ready = (): Ready | undefined => {
    const rd = ready()
    if (rd !== undefined) seen.push(...rd.snapshotRequests)
    return rd
  }
  return seen
}

/** What Storage.installSnapshot does to the durable image: log ≤ index dropped, commit raised. */
function installInImage (c: CoreCluster, id: NodeId, index: Slot): void {
  const img = c.images.get(id)
  if (img === undefined) throw new Error(`no image ${id}`)
  for (const slot of [...img.log.keys()]) if (slot <= index) img.log.delete(slot)
  img.commitIndex = Math.max(img.commitIndex, index)
}

beforeEach(() => { resetMarks() })

describe('PaxosNode snapshots and compaction', () => {
  it('a node constructed from a snapshot starts with commit = applied = index and the snapshot\'s configurations', () => {
    const log = new Map<Slot, LogEntry>()
    for (let s = 21; s <= 30; s++) log.set(s, { ballot: { round: 1, node: 'a' }, value: { id: `1.a.${s}`, commands: [cmd('x', s)] } })
    const durable: DurableState = { promised: { round: 1, node: 'a' }, commitIndex: 25, log }
    const configs = [{ fromSlot: 1, configuration: { epoch: 3, voters: ['a', 'b', 'd'], learners: [] } }]
    const node = new PaxosNode({ id: 'a', configuration: CONFIG }, durable, new Prng(1), { snapshot: { index: 20, configs } })
    const s = node.status()
    expect(s.appliedIndex).toBe(20)
    // The log above the snapshot replays on top of it.
    expect(s.commitIndex).toBe(25)
    expect(s.configuration).toEqual(configs[0]?.configuration)
    expect(node.compaction()).toEqual({ snapshotIndex: 20, compactedThrough: 20 })
    expect(node.committedValue(20)).toBeUndefined()
    expect(node.committedValue(21)?.id).toBe('1.a.21')
    const rd = node.ready()
    expect(rd?.committed.map(x => x.slot)).toEqual([21, 22, 23, 24, 25])

    const bare = new PaxosNode({ id: 'a', configuration: CONFIG }, { promised: BOTTOM_BALLOT, commitIndex: 20, log: new Map() }, new Prng(1), { snapshot: { index: 20, configs } })
    expect(bare.status()).toMatchObject({ commitIndex: 20, appliedIndex: 20, lastSlot: 20 })
    expect(bare.ready()?.committed ?? []).toEqual([])
  })

  it('snapshotConfigs keeps a change that is chosen but not yet in force', () => {
    const node = new PaxosNode({ id: 'a', configuration: CONFIG, alpha: 8 }, { promised: BOTTOM_BALLOT, commitIndex: 0, log: new Map() }, new Prng(1))
    const rd = node.ready()
    if (rd !== undefined) node.advance(rd)
    expect(node.snapshotConfigs(0)).toEqual([{ fromSlot: 1, configuration: CONFIG }])
  })

  it('compactLog drops entries only up to the snapshot and applied index', () => {
    const c = new CoreCluster({ ids: ['a', 'b', 'c'], seed: 11 })
    c.electLeader()
    commitSlots(c, 30)
    const leader = c.leader()!
    const applied = leader.status().appliedIndex
    expect(applied).toBeGreaterThanOrEqual(30)
    // No snapshot yet: nothing may be dropped.
    expect(leader.compactLog(15)).toBe(0)
    expect(leader.committedValue(10)).toBeDefined()
    leader.snapshotTaken(20)
    expect(leader.compactLog(15)).toBe(15)
    expect(leader.committedValue(15)).toBeUndefined()
    expect(leader.committedValue(16)).toBeDefined()
    // Never above the snapshot's index.
    expect(leader.compactLog(25)).toBe(20)
    expect(leader.compactLog(10)).toBe(20)
    leader.checkInvariants()
  })

  it('a catch-up request below the compaction point yields a snapshot request; installSnapshot moves the follower on and it keeps learning', () => {
    const c = new CoreCluster({ ids: ['a', 'b', 'c'], seed: 5 })
    const first = c.electLeader()
    const lagger = (['a', 'b', 'c'] as const).find(id => id !== first.id) as NodeId
    c.crash(lagger)
    commitSlots(c, 30)
    const leader = c.leader()!
    const others = ['a', 'b', 'c'].filter(id => id !== lagger)
    for (const id of others) {
      const n = c.node(id)
      n.snapshotTaken(20)
      n.compactLog(15)
    }
    const requests = watchSnapshotRequests(leader)
    const restarted = c.restart(lagger)
    c.tickAndStabilize(20)
    expect(markCount('learner: catch-up below the compaction point, snapshot needed')).toBeGreaterThan(0)
    expect(requests).toContain(lagger)
    expect(restarted.status().commitIndex).toBe(0)

    // The runtime would now transfer the snapshot at 20 and persist it; then the core installs it.
    installInImage(c, lagger, 20)
    expect(restarted.installSnapshot(20, [{ fromSlot: 1, configuration: CONFIG }])).toBe(true)
    expect(restarted.status()).toMatchObject({ commitIndex: 20, appliedIndex: 20 })
    expect(restarted.compaction()).toEqual({ snapshotIndex: 20, compactedThrough: 20 })
    // A second install of the same snapshot changes nothing.
    expect(restarted.installSnapshot(20, [{ fromSlot: 1, configuration: CONFIG }])).toBe(false)

    c.tickAndStabilize(20)
    const top = leader.status().commitIndex
    expect(restarted.status().commitIndex).toBe(top)
    for (let s = 21; s <= top; s++) expect(restarted.committedValue(s)?.id).toBe(leader.committedValue(s)?.id)

    commitSlots(c, 5, 'y')
    c.tickAndStabilize(5)
    expect(restarted.status().commitIndex).toBe(leader.status().commitIndex)
    expect(restarted.status().appliedIndex).toBe(leader.status().commitIndex)
    expect(markCount('learner: snapshot installed')).toBe(1)

    // Restarting from the image (with the snapshot) resumes above the snapshot.
    // (Without the snapshot the image alone is not a valid start: slots ≤ 20 are gone.)
    const durable = c.images.get(lagger)!.snapshot()
    const fromSnap = new PaxosNode({ id: lagger, configuration: CONFIG }, durable, new Prng(2), { snapshot: { index: 20, configs: [{ fromSlot: 1, configuration: CONFIG }] } })
    expect(fromSnap.status().commitIndex).toBe(leader.status().commitIndex)
  })

  it('a leader that needs a snapshot steps down to install it', () => {
    const c = new CoreCluster({ ids: ['a', 'b', 'c'], seed: 9 })
    const leader = c.electLeader()
    commitSlots(c, 5)
    // Pretend a snapshot far ahead arrived (the runtime only installs one ahead of the commit index).
    installInImage(c, leader.id, 50)
    expect(leader.installSnapshot(50, [{ fromSlot: 1, configuration: CONFIG }])).toBe(true)
    expect(leader.softState().role).toBe('follower')
    expect(markCount('learner: snapshot installed by a leader or candidate, stepping down')).toBe(1)
  })
})
