import { describe, it, expect } from 'vitest'
import { CoreCluster } from '../../../src/sim/core-cluster.js'
import { MAX_BALLOT_ROUND } from '../../../src/paxos/ballot.js'
import { reconfigCommand } from '../../../src/paxos/reconfiguration.js'
import type { Command, LogEntry, NodeId, PaxosNode, Slot } from '../../../src/paxos/index.js'
import { markCount } from '../../../src/util/marks.js'

// Messages of valid shape with hostile content, sent straight into the core (the runtime's
// validation already removed malformed ones). Issue 7 §2: values enter the log only through
// the protocol, and no message from anyone halts a node or stalls the group.

const enc = new TextEncoder()
function cmd (client: string, seq: number): Command {
  return { client, seq, data: enc.encode(`${client}:${seq}`) }
}

function forged (slot: Slot, client = 'evil'): readonly [Slot, LogEntry] {
  return [slot, { ballot: { round: 1, node: 'evil' }, value: { id: `1.evil.${slot}`, commands: [cmd(client, 1)] } }]
}

/** A three-node group with a leader and `writes` committed slots. */
function group (writes = 3, reads?: Set<string>): { c: CoreCluster, leader: PaxosNode, followers: PaxosNode[] } {
  const c = new CoreCluster({ ids: ['a', 'b', 'c'], seed: 5, onReady: (_id, rd) => { for (const r of rd.reads) reads?.add(r.id) } })
  const leader = c.electLeader()
  for (let i = 1; i <= writes; i++) {
    leader.propose([cmd('w', i)])
    c.stabilize()
  }
  c.tickAndStabilize(5)
  const followers = [...c.nodes.values()].filter(n => n !== leader)
  return { c, leader, followers }
}

function clientsCommitted (n: PaxosNode): string[] {
  const out: string[] = []
  for (let s = 1; s <= n.status().commitIndex; s++) for (const x of n.committedValue(s)?.commands ?? []) out.push(x.client)
  return out
}

describe('hostile input reaching the core', () => {
  it('an unsolicited catch-up reply from a stranger writes nothing, anywhere', () => {
    const { c, leader, followers } = group()
    const f = followers[0] as PaxosNode
    const commit = f.status().commitIndex
    const before = markCount('learner: unsolicited catch-up reply dropped')
    f.step('evil', { type: 'catchupReply', entries: [forged(commit + 1), forged(commit + 2)], commitIndex: commit + 2 })
    c.stabilize()
    c.tickAndStabilize(20)
    expect(markCount('learner: unsolicited catch-up reply dropped')).toBeGreaterThan(before)
    for (const n of c.nodes.values()) expect(clientsCommitted(n)).not.toContain('evil')
    // The group goes on committing its own writes.
    leader.propose([cmd('w', 99)])
    c.stabilize()
    c.tickAndStabilize(5)
    for (const n of c.nodes.values()) expect(clientsCommitted(n)).toContain('w')
  })

  it('an unsolicited catch-up reply from a member is dropped too (only a reply to our request counts)', () => {
    const { c, leader, followers } = group()
    const f = followers[0] as PaxosNode
    const commit = f.status().commitIndex
    f.step(leader.id, { type: 'catchupReply', entries: [forged(commit + 1)], commitIndex: commit + 1 })
    c.stabilize()
    expect(f.committedValue(commit + 1)).toBeUndefined()
  })

  it('a forged reconfiguration from a stranger never makes the stranger a voter', () => {
    const { c, followers } = group()
    const f = followers[0] as PaxosNode
    const commit = f.status().commitIndex
    const reconfig = reconfigCommand('evil', 1, { expectEpoch: 0, change: { kind: 'addVoter', node: 'evil' } })
    f.step('evil', { type: 'catchupReply', entries: [[commit + 1, { ballot: { round: 1, node: 'evil' }, value: { id: 'x', commands: [reconfig] } }]], commitIndex: commit + 1 })
    c.stabilize()
    c.tickAndStabilize(50)
    for (const n of c.nodes.values()) {
      for (const e of n.status().configurations) expect(e.configuration.voters).not.toContain('evil')
    }
  })

  it('a forged heartbeat ack with commit index 1e12 does not stall proposals or reads', () => {
    const reads = new Set<string>()
    const { c, leader, followers } = group(3, reads)
    leader.step((followers[0] as PaxosNode).id, { type: 'heartbeatAck', ballot: leader.softState().ballot, readSeq: 0, commitIndex: 1e12 })
    const commit = leader.status().commitIndex
    leader.propose([cmd('after', 1)])
    expect(leader.requestRead('r1').kind).toBe('pending')
    c.stabilize()
    c.tickAndStabilize(10)
    expect(reads.has('r1')).toBe(true)
    expect(leader.status().commitIndex).toBeGreaterThan(commit)
    expect(clientsCommitted(leader)).toContain('after')
  })

  it('an accept far beyond the commit index is not voted for (no sparse tail for Phase 1 to chase)', () => {
    const { c, leader, followers } = group()
    const f = followers[0] as PaxosNode
    const ballot = leader.softState().ballot
    f.step(leader.id, { type: 'accept', ballot, slot: 1e9, value: { id: 'far', commands: [] }, commitIndex: 1e12 })
    c.stabilize()
    expect(f.status().lastSlot).toBeLessThan(1e9)
    c.tickAndStabilize(10)
    leader.propose([cmd('w', 50)])
    c.stabilize()
    c.tickAndStabilize(5)
    expect(clientsCommitted(f)).toContain('w')
  })

  it('a prepare with the highest round cannot push anyone past the round limit', () => {
    const { c, followers } = group()
    const f = followers[0] as PaxosNode
    const other = followers[1] as PaxosNode
    // A member (other) goes mad: its prepare carries the last round there is.
    f.step(other.id, { type: 'prepare', ballot: { round: MAX_BALLOT_ROUND, node: other.id }, fromSlot: 1, transfer: true })
    c.stabilize()
    // Nobody can campaign above it; nobody crashes trying, for many election timeouts.
    c.crash(other.id)
    expect(() => { c.tickAndStabilize(300) }).not.toThrow()
    for (const n of c.nodes.values()) expect(n.softState().ballot.round).toBeLessThanOrEqual(MAX_BALLOT_ROUND)
  })

  it('a stranger\'s probe replies cannot raise the rounds this node campaigns with', () => {
    const { c, followers } = group()
    const f = followers[0] as PaxosNode
    f.step('evil', { type: 'probeReply', ballot: { round: 2, node: f.id }, granted: false, promised: { round: MAX_BALLOT_ROUND, node: 'evil' }, commitIndex: 0 })
    c.crash([...c.nodes.keys()].find(id => id !== f.id && id !== followers[1]?.id) as NodeId)
    for (let i = 0; i < 300 && c.leader() === undefined; i++) c.tickAndStabilize(1)
    expect(c.leader()).toBeDefined()
    expect(c.leader()?.softState().ballot.round).toBeLessThan(100)
  })
})

describe('a leader told that its in-flight slot holds another value', () => {
  /** Leader with `x` in flight at the next slot (its accepts are lost), which then asks `b` to catch it up. */
  function inflight (): { c: CoreCluster, leader: PaxosNode, slot: Slot, asked: NodeId } {
    const { c, leader, followers } = group()
    const asked = (followers[0] as PaxosNode).id
    const slot = leader.status().commitIndex + 1
    c.drop = m => !(m.from === leader.id && m.message.type === 'accept')
    leader.propose([cmd('x', 1)])
    c.stabilize()
    // A follower's ack says the slot is chosen: the leader asks it for the value.
    leader.step(asked, { type: 'heartbeatAck', ballot: leader.softState().ballot, readSeq: 0, commitIndex: slot })
    c.tick([leader.id])
    c.stabilize()
    expect(leader.catchupRequested(asked)).toBe(true)
    return { c, leader, slot, asked }
  }

  it('drops a reply claiming another value at a ballot up to its own (a lie), and stays leader', () => {
    const { leader, slot, asked } = inflight()
    const round = leader.softState().ballot.round
    leader.step(asked, { type: 'catchupReply', entries: [[slot, { ballot: { round, node: 'a' }, value: { id: 'other', commands: [cmd('evil', 1)] } }]], commitIndex: slot })
    expect(leader.softState().role).toBe('leader')
    expect(leader.committedValue(slot)).toBeUndefined()
  })

  it('steps down and learns the value when a newer ballot chose it (it was deposed unawares)', () => {
    const { leader, slot, asked } = inflight()
    const round = leader.softState().ballot.round
    leader.step(asked, { type: 'catchupReply', entries: [[slot, { ballot: { round: round + 1, node: asked }, value: { id: 'newer', commands: [cmd('n', 1)] } }]], commitIndex: slot })
    expect(leader.softState().role).toBe('follower')
    expect(leader.committedValue(slot)?.id).toBe('newer')
  })
})
