import { describe, it, expect } from 'vitest'
import { CoreCluster } from '../../../src/sim/core-cluster.ts'
import { reconfigCommand } from '../../../src/paxos/reconfiguration.ts'
import type { ConfigChange } from '../../../src/paxos/reconfiguration.ts'
import type { Command, NodeId, PaxosNode } from '../../../src/paxos/index.ts'

const enc = new TextEncoder()
let seq = 0
const cmd = (client: string): Command => ({ client, seq: ++seq, data: enc.encode(client) })

function cluster (alpha: number, ids = ['a', 'b', 'c', 'd'], voters = ['a', 'b', 'c']): CoreCluster {
  return new CoreCluster({ ids, voters, seed: alpha, config: { pipelineMax: alpha } })
}

function reconfigure (leader: PaxosNode, change: ConfigChange): void {
  const epoch = leader.status().configuration.epoch
  expect(leader.propose([reconfigCommand('op', ++seq, { expectEpoch: epoch, change })]).kind).toBe('accepted')
}

/** Proposes n commands through whoever leads, settling in between. */
function load (c: CoreCluster, n: number, tag = 'w'): void {
  for (let i = 0; i < n; i++) {
    const l = c.electLeader()
    l.propose([cmd(`${tag}${i}`)])
    c.stabilize()
  }
  c.tickAndStabilize(5)
}

function committedClients (n: PaxosNode): string[] {
  const out: string[] = []
  for (let s = 1; ; s++) { const v = n.committedValue(s); if (v === undefined) break; for (const x of v.commands) out.push(x.client) }
  return out
}

for (const alpha of [1, 4, 32]) {
  describe(`membership changes with α = ${alpha}`, () => {
    it('replaces a voter: afterwards the group survives losing the old voter and one more', () => {
      const c = cluster(alpha)
      const leader = c.electLeader()
      const target: NodeId = ['a', 'b', 'c'].find(id => id !== leader.id)!
      reconfigure(leader, { kind: 'replaceVoter', remove: target, add: 'd' })
      c.stabilize()
      load(c, alpha + 3)                      // move the commit index past s + α
      expect(c.node('d').status().configuration.voters).toContain('d')
      c.crash(target)
      const other: NodeId = ['a', 'b', 'c'].find(id => id !== leader.id && id !== target)!
      c.crash(other)                          // {leader, d} is a majority of the new voters only
      const before = c.node('d').status().commitIndex
      load(c, 5, 'after')
      expect(c.node('d').status().commitIndex).toBeGreaterThan(before)
      expect(committedClients(c.node('d'))).toEqual(committedClients(c.node(leader.id)))
    })

    it('a learner receives every committed value, then votes once promoted', () => {
      const c = cluster(alpha)
      const leader = c.electLeader()
      load(c, 3)
      reconfigure(leader, { kind: 'addLearner', node: 'd' })
      c.stabilize()
      load(c, alpha + 2, 'l')
      expect(committedClients(c.node('d'))).toEqual(committedClients(leader))
      expect(c.node('d').softState().role).toBe('follower')
      reconfigure(c.electLeader(), { kind: 'promoteLearner', node: 'd' })
      c.stabilize()
      load(c, alpha + 2, 'p')
      expect(c.node('d').status().configuration.voters).toEqual(expect.arrayContaining(['a', 'b', 'c', 'd']))
    })

    it('a removed leader steps down and the remaining voters elect a new one', () => {
      const c = cluster(alpha)
      const leader = c.electLeader()
      reconfigure(leader, { kind: 'replaceVoter', remove: leader.id, add: 'd' })
      c.stabilize()
      load(c, alpha + 3)
      const next = c.electLeader()
      expect(next.id).not.toBe(leader.id)
      expect(c.node(leader.id).softState().role).toBe('follower')
      load(c, 3, 'x')
      expect(committedClients(c.node('d'))).toEqual(committedClients(next))
    })
  })
}

describe('membership changes', () => {
  it('two changes that expect the same epoch: only the first is applied (compare-and-set)', () => {
    const c = cluster(4, ['a', 'b', 'c', 'd', 'e'])
    const leader = c.electLeader()
    const epoch = leader.status().configuration.epoch
    leader.propose([reconfigCommand('op1', 1, { expectEpoch: epoch, change: { kind: 'addLearner', node: 'd' } }),
      reconfigCommand('op2', 1, { expectEpoch: epoch, change: { kind: 'addLearner', node: 'e' } })])
    c.stabilize()
    load(c, 6)
    expect(leader.status().configuration).toEqual({ epoch: epoch + 1, voters: ['a', 'b', 'c'], learners: ['d'] })
  })

  it('a member removed while cut off learns of it when it returns and never campaigns again', () => {
    const c = cluster(4)
    const leader = c.electLeader()
    const victim: NodeId = ['a', 'b', 'c'].find(id => id !== leader.id)!
    c.drop = m => m.from !== victim && m.to !== victim
    reconfigure(leader, { kind: 'replaceVoter', remove: victim, add: 'd' })
    c.stabilize()
    load(c, 8)
    // The victim timed out alone; now it is back and probes the others.
    for (let i = 0; i < 40; i++) { c.tick([victim]); c.stabilize() }
    c.drop = undefined
    c.tickAndStabilize(60)
    expect(c.node(victim).status().configuration.voters).not.toContain(victim)
    const rounds = c.node(victim).status().ballot.round
    c.tickAndStabilize(100)
    expect(c.node(victim).softState().role).toBe('follower')
    expect(c.node(victim).status().ballot.round).toBe(rounds)
    expect(c.leader()?.id).not.toBe(victim)
  })
})
