import { describe, expect, it } from 'vitest'
import { ReadIndex, leaderRecovered } from '../../../src/paxos/read-index.js'
import type { ConfigEntry } from '../../../src/paxos/reconfiguration.js'
import type { Configuration } from '../../../src/paxos/types.js'

const abc: Configuration = { epoch: 0, voters: ['a', 'b', 'c'], learners: ['l'] }
const cde: Configuration = { epoch: 1, voters: ['c', 'd', 'e'], learners: [] }
const one: ConfigEntry[] = [{ fromSlot: 1, configuration: abc }]
const two: ConfigEntry[] = [{ fromSlot: 1, configuration: abc }, { fromSlot: 9, configuration: cde }]

describe('ReadIndex', () => {
  it('a read waits for a round that started after it arrived, acknowledged by a majority', () => {
    const r = new ReadIndex()
    r.add('r1', 'a', false)
    expect(r.roundDue).toBe(true)
    // An ack of an older round (here: none started yet) confirms nothing.
    expect(r.resolve(one, 'a', false)).toEqual([])
    r.startRound()
    expect(r.round).toBe(1)
    expect(r.roundDue).toBe(false)
    expect(r.resolve(one, 'a', false)).toEqual([])
    expect(r.ack('l', 1)).toBe(true) // a learner's ack never counts
    expect(r.resolve(one, 'a', false)).toEqual([])
    expect(r.ack('b', 1)).toBe(true)
    expect(r.resolve(one, 'a', false).map(x => x.id)).toEqual(['r1'])
    expect(r.pendingCount).toBe(0)
  })

  it('a read arriving after a round started waits for the next round', () => {
    const r = new ReadIndex()
    r.add('early', 'a', false)
    r.startRound()
    r.add('late', 'b', false)
    r.ack('b', 1)
    expect(r.resolve(one, 'a', false).map(x => x.id)).toEqual(['early'])
    r.startRound()
    r.ack('c', 2)
    expect(r.resolve(one, 'a', false).map(x => x.id)).toEqual(['late'])
  })

  it('needs a quorum of every known configuration', () => {
    const r = new ReadIndex()
    r.add('r', 'a', false)
    r.startRound()
    r.ack('b', 1)
    expect(r.confirmedRound(two, 'a')).toBe(0)
    expect(r.resolve(two, 'a', false)).toEqual([])
    r.ack('d', 1)
    expect(r.resolve(two, 'a', false)).toEqual([])
    r.ack('e', 1)
    expect(r.confirmedRound(two, 'a')).toBe(1)
    expect(r.resolve(two, 'a', false).map(x => x.id)).toEqual(['r'])
  })

  it('acks only move forward', () => {
    const r = new ReadIndex()
    expect(r.ack('b', 3)).toBe(true)
    expect(r.ack('b', 2)).toBe(false)
    expect(r.ack('b', 3)).toBe(false)
  })

  it('a sole voter answers at once, but needs a round once voters were added since', () => {
    const r = new ReadIndex()
    r.add('solo', 'a', true)
    expect(r.roundDue).toBe(false)
    expect(r.resolve([{ fromSlot: 1, configuration: { epoch: 0, voters: ['a'], learners: [] } }], 'a', true).map(x => x.id)).toEqual(['solo'])
    r.add('grown', 'a', true)
    expect(r.resolve(one, 'a', false)).toEqual([])
    expect(r.roundDue).toBe(true)
    r.startRound()
    r.ack('c', 1)
    expect(r.resolve(one, 'a', false).map(x => x.id)).toEqual(['grown'])
  })

  it('drain and cancel remove reads', () => {
    const r = new ReadIndex()
    r.add('x', 'a', false)
    r.add('x', 'b', false)
    r.add('y', 'a', false)
    r.cancel('x', 'a')
    expect(r.pendingCount).toBe(2)
    expect(r.drain().map(p => `${p.origin}:${p.id}`)).toEqual(['b:x', 'a:y'])
    expect(r.pendingCount).toBe(0)
  })
})

describe('leaderRecovered', () => {
  const phase1 = (chosenThrough: number, maxReported: number, prepared = true): Parameters<typeof leaderRecovered>[1] =>
    ({ chosenThrough, maxReported, prepared: () => prepared })

  it('waits until everything Phase 1 reported, chosen slots and votes, is committed here', () => {
    expect(leaderRecovered(4, phase1(5, 0), one, undefined)).toBe(false)
    expect(leaderRecovered(5, phase1(5, 7), one, undefined)).toBe(false)
    expect(leaderRecovered(7, phase1(5, 7), one, undefined)).toBe(true)
  })

  it('waits until Phase 1 reached a quorum of every known configuration', () => {
    expect(leaderRecovered(7, phase1(0, 0, false), two, undefined)).toBe(false)
  })

  it('readIndexIgnoresPhase1 forgets the votes (the planted bug), not the chosen slots', () => {
    expect(leaderRecovered(5, phase1(5, 7), one, { readIndexIgnoresPhase1: true })).toBe(true)
    expect(leaderRecovered(4, phase1(5, 7), one, { readIndexIgnoresPhase1: true })).toBe(false)
  })
})
