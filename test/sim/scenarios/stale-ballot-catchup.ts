import { Scripted, ballot } from './harness.js'
import type { ScenarioOutcome } from './harness.js'
import type { PaxosMutations } from '../../../src/paxos/config.js'

/**
 * Catch-up offers a chosen value with a stale ballot; the receiver must keep the higher ballot
 * of its own vote ("catch-up never lowers a ballot", src/paxos/README.md).
 *
 * History that leaves this durable state (voters a, b, c, d, e):
 * 1. a leads in 1.a and proposes V at slot 1; a and e accept.
 * 2. b leads in 2.b with Phase 1 from {b, c, d} (no vote reported) and proposes U; only c accepts.
 * 3. a leads again in 3.a with Phase 1 from {a, b, d}, re-proposes V (its own 1.a vote) and
 *    {a, b, d} choose it. e learns the commit but keeps its vote's ballot 1.a (it did not vote in
 *    3.a: it fetched the value, which it already had).
 * 4. Everyone but c and e is down. c campaigns: e's probe reply says commit 1, c fetches slot 1
 *    from e and gets (V, 1.a) while it holds (U, 2.b).
 * Correct: c stores V with ballot 2.b. With the mutation it stores (V, 1.a): its durable vote's
 * ballot goes down, which the durability checker reports. (No later Phase 1 reads a committed
 * slot today, so nothing else would notice; a recovering replica that re-learns its log from a
 * quorum would.)
 */
export function staleBallotThroughCatchup (mutations: PaxosMutations): ScenarioOutcome {
  const s = new Scripted({ ids: ['a', 'b', 'c', 'd', 'e'], seed: 9, mutations })
  const V = s.cmd('V')
  const U = s.cmd('U')
  const a1 = ballot(1, 'a')
  const b2 = ballot(2, 'b')
  const a3 = ballot(3, 'a')
  s.seed('e', { promised: a3, commitIndex: 1, log: [[1, { ballot: a1, value: s.value(a1, 1, V) }]] })
  s.seed('c', { promised: b2, log: [[1, { ballot: b2, value: s.value(b2, 1, U) }]] })
  for (const id of ['a', 'b', 'd']) s.crash(id)
  s.c.stabilize()
  s.node('c').campaign()
  s.c.stabilize()
  s.run(['c', 'e'], 5)
  s.checkpoint('c learned V at slot 1 from e', s.applied('c').has('V') && s.node('c').status().commitIndex === 1)
  const image = s.c.images.get('c')?.log.get(1)
  s.notes.push(`c's durable vote at slot 1: ${image?.value.id ?? 'none'} at ${image !== undefined ? `${image.ballot.round}.${image.ballot.node}` : '-'}`)
  s.checkpoint('c still holds its promise of 2.b', s.node('c').status().ballot.round >= 2)
  return s.outcome()
}
