import { describe, it, expect } from 'vitest'
import { CoreCluster } from '../../../src/sim/core-cluster.js'
import { reconfigCommand } from '../../../src/paxos/reconfiguration.js'
import type { ConfigChange } from '../../../src/paxos/reconfiguration.js'
import type { Command, NodeId, PaxosNode } from '../../../src/paxos/index.js'

const enc = new TextEncoder()
let seq = 0
const cmd = (client: string): Command => ({ client, seq: ++seq, data: enc.encode(client) })

function cluster (alpha: number, ids = ['a', 'b', 'c', 'd'], voters = ['a', 'b', 'c']): CoreCluster {
  return new CoreCluster({ ids, voters, seed: alpha, config: { alpha } })
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

  it('two leaders racing to replace the same member: exactly one replacement wins', () => {
    const c = cluster(4, ['a', 'b', 'c', 'd', 'e', 'x', 'y'], ['a', 'b', 'c', 'd', 'e'])
    c.node('a').campaign()
    c.stabilize()
    load(c, 3)
    // a is cut off from the majority but does not know it yet; b becomes leader meanwhile.
    c.drop = m => !((m.from === 'a') !== (m.to === 'a')) || ((m.from === 'a' || m.to === 'a') && (m.from === 'b' || m.to === 'b'))
    c.node('a').propose([reconfigCommand('old-leader', 1, { expectEpoch: 0, change: { kind: 'replaceVoter', remove: 'e', add: 'x' } })])
    c.stabilize()
    for (let i = 0; i < 200 && !['b', 'c', 'd', 'e'].some(id => c.node(id).softState().role === 'leader'); i++) { c.tick(['b', 'c', 'd', 'e']); c.stabilize() }
    const newLeader = ['b', 'c', 'd', 'e'].map(id => c.node(id)).find(n => n.softState().role === 'leader')!
    newLeader.propose([reconfigCommand('new-leader', 1, { expectEpoch: 0, change: { kind: 'replaceVoter', remove: 'e', add: 'y' } })])
    c.stabilize()
    c.drop = undefined
    c.tickAndStabilize(40)
    load(c, 6, 'after')
    // The losing spare never becomes a member, so it never learns the outcome: compare members.
    const configs = ['a', 'b', 'c', 'd'].map(id => c.node(id).status().configuration)
    const voters = new Set(configs.map(cfg => JSON.stringify([cfg.epoch, [...cfg.voters].sort()])))
    expect(voters.size).toBe(1)
    const [epoch, finalVoters] = JSON.parse([...voters][0]!) as [number, string[]]
    expect(epoch).toBe(1)
    expect(finalVoters.includes('x') !== finalVoters.includes('y')).toBe(true)
    expect(finalVoters).not.toContain('e')
  })
})
