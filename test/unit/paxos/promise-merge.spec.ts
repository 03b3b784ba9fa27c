import { describe, expect, it } from 'vitest'
import type { PromiseMessage } from '../../../src/paxos/messages.js'
import { PromiseMerge } from '../../../src/paxos/promise-merge.js'
import type { Ballot, Configuration, LogEntry, Slot } from '../../../src/paxos/types.js'

const B: Ballot = { round: 9, node: 'a' }
const vote = (round: number, node: string, id: string): LogEntry => ({ ballot: { round, node }, value: { id, commands: [] } })
const promise = (commitIndex: Slot, entries: Array<[Slot, LogEntry]>): PromiseMessage => ({ type: 'promise', ballot: B, commitIndex, entries })
const five: Configuration = { epoch: 0, voters: ['a', 'b', 'c', 'd', 'e'], learners: [] }

describe('PromiseMerge (Phase 1)', () => {
  it('re-proposes the highest-ballot vote of each slot, whatever order the promises arrive in', () => {
    for (const order of [[0, 1, 2], [2, 1, 0], [1, 2, 0]]) {
      const p = new PromiseMerge('a', 0, undefined)
      const replies: Array<[string, PromiseMessage]> = [
        ['a', promise(0, [[1, vote(1, 'a', 'old')], [2, vote(3, 'c', 'x')]])],
        ['b', promise(0, [[1, vote(2, 'b', 'new')]])],
        ['c', promise(0, [[1, vote(2, 'a', 'mid')], [4, vote(1, 'c', 'far')]])]
      ]
      for (const i of order) p.absorb(...(replies[i] as [string, PromiseMessage]))
      // (2, 'b') > (2, 'a') > (1, 'a'): ballots order by round, then node.
      expect(p.recovered(1)?.value.id).toBe('new')
      expect(p.recovered(2)?.value.id).toBe('x')
      expect(p.recovered(3)).toBeUndefined() // a hole: filled with a no-op
      expect(p.maxReported).toBe(4)
    }
  })

  it('phase1KeepsLowestBallot keeps the lowest instead (the planted bug)', () => {
    const p = new PromiseMerge('a', 0, { phase1KeepsLowestBallot: true })
    p.absorb('b', promise(0, [[1, vote(1, 'a', 'old')]]))
    p.absorb('c', promise(0, [[1, vote(2, 'b', 'new')]]))
    expect(p.recovered(1)?.value.id).toBe('old')
  })

  it('slots up to the highest reported commit index are chosen; holders are the promisers that reported them', () => {
    const p = new PromiseMerge('a', 3, undefined)
    expect(p.chosenThrough).toBe(3)
    expect(p.maxReported).toBe(3)
    p.absorb('a', promise(3, []))
    p.absorb('b', promise(7, []))
    p.absorb('c', promise(5, []))
    expect(p.chosenThrough).toBe(7)
    expect(p.holdersAbove(3)).toEqual(['b', 'c'])
    expect(p.holdersAbove(5)).toEqual(['b'])
  })

  it('prepared needs a majority of the configuration, counting this node but no stranger', () => {
    const p = new PromiseMerge('a', 0, undefined)
    p.absorb('b', promise(0, []))
    p.absorb('x', promise(0, [])) // not a voter of `five`
    expect(p.prepared(five)).toBe(false)
    p.absorb('c', promise(0, []))
    expect(p.prepared(five)).toBe(true)
    const tooSmall = new PromiseMerge('a', 0, { phase1QuorumTooSmall: true })
    tooSmall.absorb('b', promise(0, []))
    expect(tooSmall.prepared(five)).toBe(true) // ⌊5/2⌋ = 2: one short of a majority
    expect(new PromiseMerge('a', 0, { skipPhase1: true }).prepared(five)).toBe(true)
  })

  it('asks each voter that has not promised, again only after the retry interval', () => {
    const clock = { now: 0 }
    const p = new PromiseMerge('a', 0, undefined)
    p.absorb('b', promise(0, []))
    expect(p.toAsk(five, clock, 6)).toEqual(['c', 'd', 'e'])
    clock.now = 5
    expect(p.toAsk(five, clock, 6)).toEqual([])
    p.absorb('d', promise(0, []))
    clock.now = 6
    expect(p.toAsk(five, clock, 6)).toEqual(['c', 'e'])
  })
})
