import { Scripted } from './harness.js'
import type { ScenarioOutcome } from './harness.js'
import type { PaxosMutations } from '../../../src/paxos/config.js'

/**
 * A leader cut off from the others must confirm its leadership before it answers a read.
 * Voters a, b, c.
 * 1. a leads; "warmup" is committed everywhere.
 * 2. a is cut off (it still believes it leads). b and c elect a new leader, which commits w
 *    and acknowledges it.
 * 3. A client reads at a.
 * Correct: a's heartbeat round gets no majority, so the read is never answered there (the
 * client retries elsewhere). Answering at the local commit index (`unsafeLocalReads`) returns
 * the state without w: a stale read.
 */
export function deposedLeaderRead (mutations: PaxosMutations): ScenarioOutcome {
  const s = new Scripted({ ids: ['a', 'b', 'c'], seed: 17, mutations })
  s.node('a').campaign()
  s.c.stabilize()
  s.node('a').propose([s.cmd('warmup')])
  s.c.stabilize()
  s.c.tickAndStabilize(3)

  s.c.drop = m => m.from !== 'a' && m.to !== 'a'
  s.runUntil(['b', 'c'], () => s.isLeader('b') || s.isLeader('c'), 400)
  const leader = s.isLeader('b') ? 'b' : 'c'
  s.checkpoint('b or c leads while a still believes it does', s.isLeader(leader) && s.isLeader('a'))
  s.node(leader).propose([s.cmd('w')])
  s.c.stabilize()
  s.run([leader], 3)
  s.checkpoint('the new leader applied w', s.applied(leader).has('w'))
  s.acknowledge('w')

  s.read('a', 'r1')
  s.c.stabilize()
  s.run(['a', 'b', 'c'], 10)
  return s.outcome()
}
