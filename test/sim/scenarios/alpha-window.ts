import { Scripted } from './harness.js'
import type { ScenarioOutcome } from './harness.js'
import type { PaxosMutations } from '../../../src/paxos/config.js'
import { reconfigCommand } from '../../../src/paxos/reconfiguration.js'
import type { Command } from '../../../src/paxos/types.js'

/**
 * The α rule is load-bearing: a change chosen at slot s governs slots ≥ s + α, because the
 * leader may already have proposed every slot up to s − 1 + α under the old configuration.
 * Voters {a, b, c}, spare d, α = 8.
 *
 * 1. a proposes "replace b by d" at slot s and one command in each slot s + 1 … s + α − 1
 *    (the whole window). Everyone accepts them, except that only b hears the last one, t =
 *    s + α − 1 (`gap` = α − 1), or t = s + 1 (`gap` = 1). {a, b} chooses v at t under the old
 *    configuration; c learns every commit below t, d nothing (a's catch-up replies are lost).
 * 2. a crashes; a new leader is elected among b, c, d.
 * With the α rule, t is still governed by {a, b, c}: the new leader needs b's promise, which
 * reports v. If the change governs t already (`reconfigureAtNextSlot` for gap 1,
 * `alphaOffByOne` for gap α − 1), c and d are a quorum of {a, c, d} without v, and a second
 * value is chosen at t.
 */
export function alphaWindow (mutations: PaxosMutations, gap: number): ScenarioOutcome {
  const alpha = 8
  const s = new Scripted({ ids: ['a', 'b', 'c', 'd'], voters: ['a', 'b', 'c'], seed: 3, config: { alpha }, mutations })
  s.node('a').campaign()
  s.c.stabilize()
  s.node('a').propose([s.cmd('warmup')])
  s.c.stabilize()
  s.c.tickAndStabilize(2)
  const first = s.node('a').status().commitIndex + 1
  const t = first + gap

  s.c.drop = m => !(m.from === 'a' && ((m.to === 'c' && m.message.type === 'accept' && m.message.slot === t) || m.message.type === 'catchupReply'))
  s.node('a').propose([reconfigCommand('op', 1, { expectEpoch: 0, change: { kind: 'replaceVoter', remove: 'b', add: 'd' } })])
  const values: Command[] = []
  for (let i = 1; i <= gap; i++) {
    const v = s.cmd(`v${i}`)
    values.push(v)
    s.node('a').propose([v])
  }
  s.c.stabilize()
  s.checkpoint(`a chose v${gap} at slot ${t} = s + ${gap}`, s.node('a').committedValue(t)?.commands[0]?.client === `v${gap}`)
  s.checkpoint(`c committed up to slot ${t - 1} only`, s.node('c').status().commitIndex === t - 1)

  s.crash('a')
  s.c.drop = undefined
  s.runUntil(['b', 'c', 'd'], () => s.c.leader() !== undefined, 300)
  const leader = s.c.leader()
  s.checkpoint('a new leader was elected', leader !== undefined)
  leader?.propose([s.cmd('w')])
  s.c.stabilize()
  s.c.tickAndStabilize(10)
  s.checkpoint(`the new leader decided slot ${t}`, leader !== undefined && leader.status().commitIndex >= t)
  return s.outcome()
}
