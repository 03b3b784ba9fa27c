import { Scripted, ballot } from './harness.js'
import type { ScenarioOutcome } from './harness.js'
import type { PaxosMutations } from '../../../src/paxos/config.js'
import { reconfigCommand } from '../../../src/paxos/reconfiguration.js'

/**
 * Phase 1 must reach a majority of every configuration a leader proposes in, including one it
 * learns after its election. α = 1, voters {a, b, c}; d is a spare.
 *
 * History that leaves this durable state:
 * 1. b leads in 1.b and chooses R = "replace b by d" at slot 1 (b and c vote; both learn it).
 *    From slot 2 on, {a, c, d} governs.
 * 2. c leads in 2.c with Phase 1 from {a, c, d} (a and d promise 2.c) and chooses W at slot 2
 *    with {c, d}; c learns it. a missed every accept: it knows neither R nor W.
 * 3. c is cut off. a campaigns in the only configuration it knows, {a, b, c}: b promises 3.a
 *    and reports commit 1, so a fetches R and learns that {a, c, d} governs slot 2.
 * Correct: a asks c and d for promises in 3.a; d reports W, and a re-proposes W at slot 2.
 * With ⌊n/2⌋ as the quorum, a's own promise counts as Phase 1 of {a, c, d}: a proposes a new
 * command V at slot 2, d accepts it (3.a > 2.c), and V is chosen where W already was.
 */
export function phase1NewConfiguration (mutations: PaxosMutations): ScenarioOutcome {
  const s = new Scripted({ ids: ['a', 'b', 'c', 'd'], voters: ['a', 'b', 'c'], seed: 5, config: { alpha: 1 }, mutations })
  const R = reconfigCommand('op', 1, { expectEpoch: 0, change: { kind: 'replaceVoter', remove: 'b', add: 'd' } })
  const W = s.cmd('W')
  const V = s.cmd('V')
  const b1 = ballot(1, 'b')
  const b2 = ballot(2, 'c')
  const r = { ballot: b1, value: s.value(b1, 1, R) }
  const w = { ballot: b2, value: s.value(b2, 2, W) }
  s.seed('b', { promised: b1, commitIndex: 1, log: [[1, r]] })
  s.seed('c', { promised: b2, commitIndex: 2, log: [[1, r], [2, w]] })
  s.seed('d', { promised: b2, log: [[2, w]] })
  s.seed('a', { promised: b2 })
  // c is cut off; a learns R only once it leads (the catch-up a probe reply triggers is lost).
  let electedInOld: boolean | undefined
  s.c.drop = m => {
    if (electedInOld === undefined && s.isLeader('a')) electedInOld = !s.node('a').status().configuration.voters.includes('d')
    return m.from !== 'c' && m.to !== 'c' && !(m.message.type === 'catchupReply' && !s.isLeader('a'))
  }
  s.c.stabilize()
  for (let i = 0; i < 10 && !s.isLeader('a'); i++) {
    s.node('a').campaign()
    s.c.stabilize()
  }
  s.checkpoint('a leads, elected by {a, b} in the configuration it knew', s.isLeader('a') && electedInOld === true)
  s.node('a').propose([V])
  s.c.stabilize()
  s.run(['a'], 20)
  s.checkpoint('a learned the new configuration', s.node('a').status().configuration.voters.includes('d'))
  s.checkpoint('a decided slot 2', s.node('a').status().commitIndex >= 2)
  s.checkpoint('c applied W at slot 2 before', s.applied('c').has('W'))
  return s.outcome()
}
