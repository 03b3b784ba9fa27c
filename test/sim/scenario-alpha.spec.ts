import { describe, it, expect } from 'vitest'
import { CoreCluster } from '../../src/sim/core-cluster.ts'
import { SafetyChecker } from '../../src/sim/checkers.ts'
import { reconfigCommand } from '../../src/paxos/reconfiguration.ts'
import type { Command, NodeId } from '../../src/paxos/index.ts'

const enc = new TextEncoder()

/**
 * Scenario: the α rule is load-bearing. Voters {a, b, c}; a leads with α = 8.
 * 1. a proposes "replace b by d" at slot s and v at slot s + 1. Everyone accepts s; only b
 *    accepts s + 1, so {a, b} chooses v at s + 1 under the old configuration. c learns that s is
 *    committed, but not s + 1.
 * 2. a crashes. c campaigns.
 * With the α rule, slot s + 1 is still governed by {a, b, c}: c needs b's promise, which reports
 * v, and c re-proposes v. With the broken rule (a change at s governs s + 1), c only needs a
 * quorum of {a, d, c}: d and c never saw v, c fills s + 1 with something else, and two values
 * are chosen for one slot.
 */
function runScenario (broken: boolean): { checker: SafetyChecker, leader: NodeId | undefined } {
  const checker = new SafetyChecker(() => 0)
  const c = new CoreCluster({
    ids: ['a', 'b', 'c', 'd'],
    voters: ['a', 'b', 'c'],
    seed: 3,
    config: { pipelineMax: 8, ...(broken ? { mutations: { reconfigureAtNextSlot: true } } : {}) },
    onCommitted: (id, e) => { checker.onSlot(id, 1, e.slot, e.value) }
  })
  const cmd = (client: string): Command => {
    const command = { client, seq: 1, data: enc.encode(client) }
    checker.proposedCommand(command)
    return command
  }
  c.node('a').campaign()
  c.stabilize()
  c.node('a').propose([cmd('warmup')])
  c.stabilize()
  c.tickAndStabilize(2)
  const s = c.node('a').status().commitIndex + 1

  c.drop = m => !(m.from === 'a' && ((m.to === 'c' && m.message.type === 'accept' && m.message.slot === s + 1) || m.message.type === 'catchupReply'))
  c.node('a').propose([reconfigCommand('op', 1, { expectEpoch: 0, change: { kind: 'replaceVoter', remove: 'b', add: 'd' } })])
  c.node('a').propose([cmd('v')])
  c.stabilize()
  expect(c.node('a').committedValue(s + 1)?.commands[0]?.client).toBe('v')
  expect(c.node('c').status().commitIndex).toBe(s)

  c.crash('a')
  c.drop = undefined
  for (let i = 0; i < 300 && c.leader() === undefined; i++) { c.tick(['b', 'c', 'd']); c.stabilize() }
  const leader = c.leader()
  leader?.propose([cmd('w')])
  c.stabilize()
  c.tickAndStabilize(10)
  return { checker, leader: leader?.id }
}

describe('scenario: the α rule is load-bearing', () => {
  it('a configuration that takes effect at s + 1 lets two values be chosen, and the agreement checker says so', () => {
    const { checker } = runScenario(true)
    expect(checker.violations.map(v => v.kind)).toContain('agreement')
  })

  it('with the α rule, the same schedule keeps one value per slot and a new leader is elected', () => {
    const { checker, leader } = runScenario(false)
    expect(checker.violations).toEqual([])
    expect(leader).toBeDefined()
  })
})
