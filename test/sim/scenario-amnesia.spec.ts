import { describe, it, expect } from 'vitest'
import { CoreCluster } from '../../src/sim/core-cluster.js'
import { SafetyChecker } from '../../src/sim/checkers.js'
import { BOTTOM_BALLOT } from '../../src/paxos/index.js'
import type { Command, NodeId } from '../../src/paxos/index.js'

const enc = new TextEncoder()

/**
 * Scenario: an acceptor that forgets its promise on restart lets two values be chosen for one
 * slot (the reason DESIGN.md's "persist before send" exists). Scripted step by step so the
 * interleaving happens every time, with the random simulator as the second line of defence.
 *
 * 1. a leads (ballot b1) and commits slot 1; then a is cut off and proposes v at slot 2.
 * 2. b and c elect a new leader X (ballot b2 > b1); the other one, Y, promised b2.
 * 3. Y crashes and restarts (with the bug: promised forgotten).
 * 4. a's retransmitted accept(2, v, b1) reaches Y: the buggy Y accepts, a has {a, Y} and applies v.
 * 5. X proposes w at slot 2; Y accepts (b2 > b1); X has {X, Y} and applies w. Two values, one slot.
 */
function runScenario (forgetPromise: boolean): { checker: SafetyChecker, applied: Map<NodeId, string[]> } {
  const checker = new SafetyChecker(() => 0)
  const applied = new Map<NodeId, string[]>()
  const incarnation = new Map<NodeId, number>()
  const c = new CoreCluster({
    ids: ['a', 'b', 'c'],
    seed: 4,
    onCommitted: (id, e) => {
      checker.onSlot(id, incarnation.get(id) ?? 1, e.slot, e.value)
      applied.set(id, [...(applied.get(id) ?? []), `${e.slot}:${e.value.commands.map(x => x.client).join(',')}`])
    }
  })
  const cmd = (client: string): Command => {
    const command = { client, seq: 1, data: enc.encode(client) }
    checker.proposedCommand(command)
    return command
  }
  c.node('a').campaign()
  c.stabilize()
  expect(c.node('a').softState().role).toBe('leader')
  c.node('a').propose([cmd('first')])
  c.stabilize()
  c.tickAndStabilize(2)

  // 1. a is cut off and proposes v.
  c.drop = m => m.from !== 'a' && m.to !== 'a'
  c.node('a').propose([cmd('v')])
  c.stabilize()

  // 2. b and c time out and elect a new leader (a is not ticked, so it still thinks it leads).
  for (let i = 0; i < 200 && c.node('b').softState().role !== 'leader' && c.node('c').softState().role !== 'leader'; i++) {
    c.tick(['b', 'c'])
    c.stabilize()
  }
  const x = c.node('b').softState().role === 'leader' ? 'b' : 'c'
  const y = x === 'b' ? 'c' : 'b'
  expect(c.node(x).softState().role).toBe('leader')
  expect(c.node('a').softState().role).toBe('leader')

  // 3. Y restarts; with the bug it has forgotten that it promised b2.
  c.crash(y)
  incarnation.set(y, 2)
  c.restart(y, forgetPromise ? d => ({ ...d, promised: BOTTOM_BALLOT }) : undefined)

  // 4. Only a's accepts reach Y (not its heartbeats, which would tell Y that slot 2 is chosen).
  c.drop = m => (m.from === 'a' && m.to === y && m.message.type === 'accept') || (m.from === y && m.to === 'a')
  for (let i = 0; i < 12; i++) { c.tick(['a']); c.stabilize() }

  // 5. X proposes w at slot 2, talking to Y only.
  c.drop = m => (m.from === x && m.to === y) || (m.from === y && m.to === x)
  c.node(x).propose([cmd('w')])
  c.stabilize()
  for (let i = 0; i < 6; i++) { c.tick([x]); c.stabilize() }
  return { checker, applied }
}

describe('scenario: acceptor amnesia', () => {
  it('an acceptor that forgets its promise on restart lets two values be chosen, and the agreement checker says so', () => {
    const { checker, applied } = runScenario(true)
    expect(applied.get('a')).toContain('2:v')
    expect(checker.violations.map(v => v.kind)).toContain('agreement')
  })

  it('with the promise kept across the restart, the same schedule chooses one value', () => {
    const { checker, applied } = runScenario(false)
    expect(checker.violations).toEqual([])
    expect(applied.get('a') ?? []).not.toContain('2:v')
  })
})
