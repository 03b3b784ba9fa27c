import { Scripted, ballot } from './harness.js'
import type { ScenarioOutcome } from './harness.js'
import type { PaxosMutations } from '../../../src/paxos/config.js'

/**
 * Two acceptors hold competing votes for slot 1 at different ballots; the new leader must
 * re-propose the one with the highest ballot (PMMC §3).
 *
 * History that leaves this durable state (voters a, b, c):
 * 1. a leads in ballot 1.a and proposes X at slot 1; only a's own vote is recorded.
 * 2. b leads in ballot 2.b with Phase 1 from {b, c} (no vote reported), proposes Y at slot 1;
 *    b and c accept: Y is chosen, and b learns it (commit 1, applied).
 * 3. b is cut off. a campaigns: its Phase 1 quorum is {a, c}, which reports X at 1.a (a's own)
 *    and Y at 2.b (c's). Only Y is safe; picking X chooses a second value for slot 1.
 *
 * Catches `phase1KeepsLowestBallot` (X re-proposed) and `skipPhase1` (a never asks c).
 */
export function competingVotes (mutations: PaxosMutations): ScenarioOutcome {
  const s = new Scripted({ ids: ['a', 'b', 'c'], seed: 7, mutations })
  const X = s.cmd('X')
  const Y = s.cmd('Y')
  const b1 = ballot(1, 'a')
  const b2 = ballot(2, 'b')
  s.seed('a', { promised: b1, log: [[1, { ballot: b1, value: s.value(b1, 1, X) }]] })
  s.seed('b', { promised: b2, commitIndex: 1, log: [[1, { ballot: b2, value: s.value(b2, 1, Y) }]] })
  s.seed('c', { promised: b2, log: [[1, { ballot: b2, value: s.value(b2, 1, Y) }]] })
  s.c.drop = m => m.from !== 'b' && m.to !== 'b'
  s.c.stabilize()
  // a campaigns until it leads and slot 1 is decided there (a first ballot below 2.b is refused).
  for (let i = 0; i < 10 && s.node('a').status().commitIndex < 1; i++) {
    if (!s.isLeader('a')) s.node('a').campaign()
    s.c.stabilize()
    s.run(['a', 'c'], 3)
  }
  s.checkpoint('b applied Y at slot 1 before a campaigned', s.applied('b').has('Y'))
  s.checkpoint('a leads and has decided slot 1', s.isLeader('a') && s.node('a').status().commitIndex >= 1)
  return s.outcome()
}
