import { describe, it, expect } from 'vitest'
import { CoreCluster } from '../../../src/sim/core-cluster.js'
import type { Command, NodeId, Value } from '../../../src/paxos/index.js'

const enc = new TextEncoder()
function cmd (client: string, seq: number, text = `${client}:${seq}`): Command {
  return { client, seq, data: enc.encode(text) }
}

function committedLog (c: CoreCluster): Map<NodeId, Value[]> {
  const out = new Map<NodeId, Value[]>()
  for (const [id, n] of c.nodes) {
    const vals: Value[] = []
    for (let s = 1; ; s++) { const v = n.committedValue(s); if (v === undefined) break; vals.push(v) }
    out.set(id, vals)
  }
  return out
}

describe('PaxosNode in a fault-free cluster', () => {
  it('elects one leader and commits proposals on every replica', () => {
    const applied = new Map<string, string[]>()
    const c = new CoreCluster({ ids: ['a', 'b', 'c'], seed: 7, onCommitted: (id, e) => { for (const x of e.value.commands) (applied.get(id) ?? applied.set(id, []).get(id)!).push(x.client + x.seq) } })
    const leader = c.electLeader()
    expect(leader.propose([cmd('x', 1), cmd('x', 2)]).kind).toBe('accepted')
    c.stabilize()
    c.tickAndStabilize(5)
    for (const id of ['a', 'b', 'c']) expect(applied.get(id)).toEqual(['x1', 'x2'])
    const logs = committedLog(c)
    expect(new Set([...logs.values()].map(v => JSON.stringify(v.map(x => x.id)))).size).toBe(1)
  })

  it('a follower forwards proposals to the leader', () => {
    const c = new CoreCluster({ ids: ['a', 'b', 'c'], seed: 3 })
    const leader = c.electLeader()
    c.tickAndStabilize(5)
    const follower = [...c.nodes.values()].find(n => n !== leader)!
    expect(follower.propose([cmd('y', 1)]).kind).toBe('forwarded')
    c.stabilize()
    c.tickAndStabilize(5)
    expect(follower.committedValue(1)?.commands[0]?.client ?? follower.committedValue(2)?.commands[0]?.client).toBe('y')
  })

  it('a new leader re-proposes values accepted in an earlier ballot (PMMC §3: highest ballot wins)', () => {
    const c = new CoreCluster({ ids: ['a', 'b', 'c'], seed: 11 })
    const first = c.electLeader()
    c.tickAndStabilize(3)
    // Only one follower hears the accept: the value is chosen (2 of 3) but nobody learns it.
    const [f1, f2] = [...c.nodes.keys()].filter(id => id !== first.id) as [string, string]
    c.drop = m => !(m.from === first.id && m.to === f2) && !(m.to === first.id)
    first.propose([cmd('z', 1)])
    c.stabilize()
    c.crash(first.id)
    c.drop = undefined
    for (let i = 0; i < 200 && c.leader() === undefined; i++) c.tickAndStabilize(1)
    const second = c.leader()!
    expect(second.id).not.toBe(first.id)
    c.tickAndStabilize(10)
    expect(c.node(f1).committedValue(1)?.commands[0]?.client).toBe('z')
    expect(c.node(f2).committedValue(1)?.commands[0]?.client).toBe('z')
  })

  it('keeps promises and acceptances across a crash and restart', () => {
    const c = new CoreCluster({ ids: ['a', 'b', 'c'], seed: 5 })
    const leader = c.electLeader()
    leader.propose([cmd('p', 1)])
    c.stabilize()
    c.tickAndStabilize(5)
    const follower = [...c.nodes.keys()].find(id => id !== leader.id)!
    const before = c.node(follower).status()
    c.crash(follower)
    const restarted = c.restart(follower)
    expect(restarted.status().ballot).toEqual(before.ballot)
    expect(restarted.status().commitIndex).toBe(before.commitIndex)
    expect(restarted.committedValue(1)?.commands[0]?.client).toBe('p')
  })

  it('reads complete through read-index on leader and follower', () => {
    const c = new CoreCluster({ ids: ['a', 'b', 'c'], seed: 9 })
    const leader = c.electLeader()
    c.tickAndStabilize(3)
    expect(leader.requestRead('r1').kind).toBe('pending')
    const rdReads: string[] = []
    for (let i = 0; i < 10; i++) {
      for (const id of c.nodes.keys()) { const rd = c.processReady(id); if (rd) rdReads.push(...rd.reads.map(r => r.id)) }
      c.stabilize()
    }
    c.tickAndStabilize(3)
    const follower = [...c.nodes.values()].find(n => n !== leader)!
    expect(follower.requestRead('r2').kind).toBe('pending')
    const seen: string[] = []
    const orig = c.processReady.bind(c)
    c.processReady = (id) => { const rd = orig(id); if (rd) seen.push(...rd.reads.map(r => r.id)); return rd }
    c.stabilize(); c.tickAndStabilize(5)
    expect(seen).toContain('r2')
  })

  it('transfers leadership to a named node', () => {
    const c = new CoreCluster({ ids: ['a', 'b', 'c'], seed: 13 })
    const leader = c.electLeader()
    c.tickAndStabilize(3)
    const target = [...c.nodes.keys()].find(id => id !== leader.id)!
    expect(leader.transferLeadership(target)).toBe(true)
    c.stabilize()
    c.tickAndStabilize(5)
    expect(c.leader()?.id).toBe(target)
  })

  it('batches many commands per slot under load and respects the α window', () => {
    const c = new CoreCluster({ ids: ['a', 'b', 'c'], seed: 1, config: { alpha: 4, batchCommandsMax: 100 } })
    const leader = c.electLeader()
    c.tickAndStabilize(2)
    const cmds: Command[] = []
    for (let i = 1; i <= 1000; i++) cmds.push(cmd('load', i))
    leader.propose(cmds)
    expect(leader.status().inflightSlots).toBeLessThanOrEqual(4)
    c.stabilize()
    c.tickAndStabilize(3)
    let total = 0; let slots = 0
    for (let s = 1; ; s++) { const v = leader.committedValue(s); if (!v) break; slots++; total += v.commands.length }
    expect(total).toBe(1000)
    expect(slots).toBeLessThanOrEqual(12)
  })
})

describe('a follower told that the connection to its leader broke', () => {
  function killLeader (seed: number, report: boolean): number {
    const c = new CoreCluster({ ids: ['a', 'b', 'c'], seed })
    const first = c.electLeader()
    c.tickAndStabilize(10)
    c.crash(first.id)
    if (report) for (const n of c.nodes.values()) if (n.id !== first.id) n.peerUnreachable(first.id)
    let ticks = 0
    for (; ticks < 500 && (c.leader() === undefined || c.leader() === first); ticks++) c.tickAndStabilize(1)
    expect(c.leader()?.id).not.toBe(first.id)
    return ticks
  }

  it('campaigns within heartbeatTicks instead of waiting out the election timeout', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      // Without the report the followers wait at least electionTicksMin (15) ticks.
      expect(killLeader(seed, false)).toBeGreaterThanOrEqual(15)
      expect(killLeader(seed, true)).toBeLessThanOrEqual(8)
    }
  })

  it('a report about a peer that is not its leader changes nothing; a false one is undone by the next heartbeat', () => {
    const c = new CoreCluster({ ids: ['a', 'b', 'c'], seed: 9 })
    const leader = c.electLeader()
    c.tickAndStabilize(10)
    const [f1, f2] = [...c.nodes.values()].filter(n => n !== leader)
    if (f1 === undefined || f2 === undefined) throw new Error('cluster')
    f1.peerUnreachable(f2.id)
    c.tickAndStabilize(40)
    expect(c.leader()).toBe(leader)
    // The leader is alive after all: f1's early probe is refused (f2 still hears the leader),
    // and the leader's heartbeats keep it in office.
    f1.peerUnreachable(leader.id)
    c.tickAndStabilize(60)
    expect(c.leader()).toBe(leader)
    expect(f1.status().leader).toBe(leader.id)
  })
})

describe('a leader told that the connection to a member broke', () => {
  it('reports the member unreachable until it is heard from again, and keeps leading', () => {
    const c = new CoreCluster({ ids: ['a', 'b', 'c'], seed: 4 })
    const leader = c.electLeader()
    c.tickAndStabilize(10)
    const other = [...c.nodes.keys()].find(id => id !== leader.id)!
    const reachable = (): boolean | undefined => leader.status().peers.find(p => p.id === other)?.reachable
    expect(reachable()).toBe(true)
    c.crash(other)
    leader.peerUnreachable(other)
    leader.peerUnreachable('stranger')
    expect(reachable()).toBe(false)
    expect(leader.status().peers.some(p => p.id === 'stranger')).toBe(false)
    c.tickAndStabilize(20)
    expect(reachable()).toBe(false)
    expect(c.leader()).toBe(leader)
    c.restart(other)
    c.tickAndStabilize(20)
    expect(reachable()).toBe(true)
  })
})
