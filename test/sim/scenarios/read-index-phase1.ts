import { Scripted } from './harness.js'
import type { ScenarioOutcome } from './harness.js'
import type { PaxosMutations } from '../../../src/paxos/config.js'

/**
 * A new leader's read index must cover every vote Phase 1 reported: such a slot may hold a
 * write the old leader already acknowledged. Voters a, b, c.
 *
 * 1. a leads; "warmup" is committed everywhere.
 * 2. a proposes w at slot 2; only b's vote reaches a (c gets no accept) and nobody hears the
 *    commit. a applies w and acknowledges it to its client.
 * 3. a crashes; b or c leads, with Phase 1 from both: b reports its vote for w at slot 2, so
 *    the new leader knows slot 2 may be chosen but cannot commit it yet (its accepts are lost).
 * 4. A client reads at the new leader.
 * Correct: the read index is 2, so the read waits until w is committed and applied there.
 * Ignoring `maxReported`, the index is the commit index 1: the read is answered without w, a
 * stale read of an acknowledged write (the linearizability check of the script says so).
 */
export function readIndexCoversPhase1 (mutations: PaxosMutations): ScenarioOutcome {
  const s = new Scripted({ ids: ['a', 'b', 'c'], seed: 13, mutations })
  s.node('a').campaign()
  s.c.stabilize()
  s.node('a').propose([s.cmd('warmup')])
  s.c.stabilize()
  s.c.tickAndStabilize(3)
  s.checkpoint('every node committed the warm-up write', ['a', 'b', 'c'].every(id => s.applied(id).has('warmup')))

  s.c.drop = m => !(m.from === 'a' && (m.to === 'c' || m.message.type === 'heartbeat'))
  s.node('a').propose([s.cmd('w')])
  s.c.stabilize()
  s.checkpoint('a applied w (acknowledged), b and c did not', s.applied('a').has('w') && !s.applied('b').has('w') && !s.applied('c').has('w'))
  s.acknowledge('w')

  s.crash('a')
  // The new leader's accepts are lost until the read has been answered or given its index.
  s.c.drop = m => m.message.type !== 'accept' && m.message.type !== 'accepted'
  s.runUntil(['b', 'c'], () => s.c.leader() !== undefined, 400)
  const leader = s.c.leader()
  s.checkpoint('b or c leads', leader !== undefined)
  if (leader === undefined) return s.outcome()
  s.read(leader.id, 'r1')
  s.c.stabilize()
  s.run(['b', 'c'], 3)
  s.c.drop = undefined
  s.run(['b', 'c'], 10)
  s.checkpoint('the read was answered', s.readAnswer('r1') !== undefined)
  return s.outcome()
}
