import { Scripted } from './harness.js'
import type { ScenarioOutcome } from './harness.js'
import type { PaxosMutations } from '../../../src/paxos/config.js'

/**
 * An acceptor never overwrites a slot it knows is chosen, even with an accept its promise
 * allows. Voters a, b, c, d, e.
 * 1. a leads in 1.a (everyone promises 1.a), then is cut off and proposes U at slot 1.
 * 2. b, d and e elect a new leader (c is cut off too), which chooses V at slot 1.
 * 3. c, still promised to 1.a, campaigns: the probe replies say commit 1, and c fetches V.
 *    It has promised nothing above 1.a.
 * 4. a's retransmitted accept(1.a, slot 1, U) reaches c. Correct: dropped, slot 1 is chosen.
 *    With the mutation c overwrites its log with U (the durability checker sees the vote's
 *    ballot go down), and after a restart c replays slot 1 as U: two values for one slot.
 */
export function lateAcceptForChosenSlot (mutations: PaxosMutations): ScenarioOutcome {
  const s = new Scripted({ ids: ['a', 'b', 'c', 'd', 'e'], seed: 21, mutations })
  s.node('a').campaign()
  s.c.stabilize()
  s.c.tickAndStabilize(2)
  s.checkpoint('a leads in 1.a', s.isLeader('a') && s.node('a').status().ballot.round === 1)

  s.c.drop = m => m.from !== 'a' && m.to !== 'a' && m.from !== 'c' && m.to !== 'c'
  s.node('a').propose([s.cmd('U')])
  s.c.stabilize()
  const others = ['b', 'd', 'e']
  s.runUntil(others, () => others.some(id => s.isLeader(id)), 400)
  const leader = others.find(id => s.isLeader(id))
  s.checkpoint('b, d or e leads', leader !== undefined)
  if (leader === undefined) return s.outcome()
  s.node(leader).propose([s.cmd('V')])
  s.c.stabilize()
  s.run(others, 3)
  s.checkpoint('the new leader chose V at slot 1', s.node(leader).committedValue(1)?.commands[0]?.client === 'V')

  // c learns V through its probes' catch-up only: no prepare, accept or heartbeat reaches it.
  const catchup = new Set(['probe', 'probeReply', 'catchupRequest', 'catchupReply'])
  s.c.drop = m => m.from !== 'a' && m.to !== 'a' && ((m.from !== 'c' && m.to !== 'c') || catchup.has(m.message.type))
  s.node('c').campaign()
  s.c.stabilize()
  s.checkpoint('c learned V and still promised only 1.a', s.applied('c').has('V') && s.node('c').status().ballot.round === 1)

  // a's accept for slot 1 is retransmitted; only the copy to c arrives.
  s.c.drop = m => m.from === 'a' && m.to === 'c' && m.message.type === 'accept'
  s.run(['a'], 8)
  s.crash('c')
  s.c.drop = m => m.from !== 'a' && m.to !== 'a'
  s.restart('c')
  s.c.stabilize()
  s.checkpoint('c applied slot 1 again after its restart', s.applied('c').size > 0)
  return s.outcome()
}
