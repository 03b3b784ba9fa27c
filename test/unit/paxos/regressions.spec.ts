import { describe, it, expect } from 'vitest'
import { PaxosNode, emptyDurableState } from '../../../src/paxos/index.js'

const rnd = { int: (min: number) => min }

describe('regressions', () => {
  it('a learner cannot make itself leader in a voter\'s view with a heartbeat', () => {
    const n = new PaxosNode({ id: 'a', configuration: { epoch: 0, voters: ['a', 'b', 'c'], learners: ['l'] } }, emptyDurableState(), rnd)
    n.step('l', { type: 'heartbeat', ballot: { round: 9, node: 'l' }, commitIndex: 0, readSeq: 0 })
    expect(n.softState().leader).toBeUndefined()
    expect(n.softState().ballot.round).toBe(0)
  })
})
