import { describe, expect, it } from 'vitest'
import { Progress } from '../../../src/paxos/progress.js'

describe('Progress (per-peer, at the leader)', () => {
  it('every voter starts with a full timeout from the start of the leadership', () => {
    const p = new Progress(['a', 'b', 'c'], 100, 0)
    expect(p.ackedWithin(['a', 'b', 'c'], 'a', 129, 30)).toEqual(new Set(['a', 'b', 'c']))
    expect(p.ackedWithin(['a', 'b', 'c'], 'a', 130, 30)).toEqual(new Set(['a']))
    expect(p.peer('b')).toEqual({ id: 'b', commitIndex: 0, lastAckTick: 100, lastHeardTick: 100, reachable: true })
  })

  it('a voter never heard from is silent, and this node always counts', () => {
    const p = new Progress(['a'], 0, 0)
    expect(p.ackedWithin(['a', 'z'], 'a', 0, 30)).toEqual(new Set(['a']))
    expect(p.peer('z')).toEqual({ id: 'z', commitIndex: 0, lastAckTick: -1, lastHeardTick: -1, reachable: true })
  })

  it('a member whose connection broke is unreachable until it is heard from or acknowledges again', () => {
    const p = new Progress(['a', 'b', 'c'], 0, 0)
    p.lost('b')
    expect(p.peer('b')).toMatchObject({ reachable: false, lastHeardTick: 0 })
    expect(p.peer('c').reachable).toBe(true)
    p.heard('b', 5)
    expect(p.peer('b').reachable).toBe(true)
    p.lost('c')
    p.acked('c', 6)
    expect(p.peer('c').reachable).toBe(true)
  })

  it('activity is liveness, but only acknowledgements count for check-quorum', () => {
    const p = new Progress(['a', 'b'], 0, 0)
    p.heard('b', 50)
    expect(p.ackedWithin(['a', 'b'], 'a', 50, 30)).toEqual(new Set(['a']))
    expect(p.peer('b').lastHeardTick).toBe(50)
    p.acked('b', 60)
    expect(p.peer('b').lastHeardTick).toBe(60) // the later of the two
  })

  it('admits new members with a fresh timeout, and a member added again does not inherit its old one', () => {
    const p = new Progress(['a', 'b', 'c'], 0, 0)
    p.acked('b', 5)
    p.admit(new Set(['a', 'b', 'c']), ['a', 'b', 'd'], 40)
    expect(p.peer('b').lastAckTick).toBe(5) // still a member: keeps its record
    expect(p.peer('d').lastAckTick).toBe(40)
    p.admit(new Set(['a', 'b', 'd']), ['a', 'b', 'd', 'c'], 70) // c removed earlier, added again
    expect(p.peer('c').lastAckTick).toBe(70)
  })

  it('reported commit indexes name who is ahead and raise the catch-up hint, never lower it', () => {
    const p = new Progress(['a', 'b', 'c'], 0, 4)
    expect(p.catchupHint).toBe(4)
    p.reportCommit('b', 9)
    p.reportCommit('c', 6)
    p.reportCommit('b', 7)
    expect(p.catchupHint).toBe(9)
    expect(p.aheadOf(['b', 'c'], 6)).toEqual(['b'])
    expect(p.aheadOf(['b', 'c'], 5)).toEqual(['b', 'c'])
  })

  it('rotates catch-up sources on each retry', () => {
    const p = new Progress([], 0, 0)
    expect([1, 2, 3, 4].map(() => p.nextCatchupSource(['b', 'c', 'd']))).toEqual(['b', 'c', 'd', 'b'])
    expect(p.nextCatchupSource([])).toBeUndefined()
  })
})
