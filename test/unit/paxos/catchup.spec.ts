import { describe, expect, it } from 'vitest'
import { CatchupRequests } from '../../../src/paxos/catchup.js'

describe('CatchupRequests', () => {
  it('paces requests by the retry interval; a first request goes at once', () => {
    const clock = { now: 0 }
    const c = new CatchupRequests(clock, 6, 10)
    expect(c.mayRequest).toBe(true)
    expect(c.idle).toBe(true)
    c.sent('b', 1, 5)
    expect(c.mayRequest).toBe(false)
    expect(c.idle).toBe(false)
    clock.now = 5
    expect(c.mayRequest).toBe(false)
    clock.now = 6
    expect(c.mayRequest).toBe(true)
    c.sent('c', 1, 5)
    c.unpace()
    expect(c.mayRequest).toBe(true)
    expect(c.idle).toBe(true)
  })

  it('only a member asked may answer, once, within the range it was asked', () => {
    const clock = { now: 0 }
    const c = new CatchupRequests(clock, 6, 10)
    c.sent('b', 3, 9)
    expect(c.requested('b')).toBe(true)
    expect(c.requested('c')).toBe(false)
    expect(c.take('c')).toBeUndefined()
    const ask = c.take('b')
    expect(ask?.fromSlot).toBe(3)
    expect(ask?.toSlot).toBe(9)
    expect(c.take('b')).toBeUndefined()
  })

  it('a request stays answerable for exactly replyRetries retry intervals', () => {
    const clock = { now: 100 }
    const c = new CatchupRequests(clock, 6, 10)
    c.sent('b', 1, 2)
    clock.now = 160
    c.expire()
    expect(c.requested('b')).toBe(true)
    clock.now = 161
    c.expire()
    expect(c.requested('b')).toBe(false)
  })

  it('asking again restarts the request\'s lifetime', () => {
    const clock = { now: 0 }
    const c = new CatchupRequests(clock, 6, 10)
    c.sent('b', 1, 2)
    clock.now = 50
    c.sent('b', 1, 4)
    clock.now = 61
    c.expire()
    expect(c.take('b')?.toSlot).toBe(4)
  })

  it('polls the members in turn', () => {
    const c = new CatchupRequests({ now: 0 }, 6, 10)
    expect([0, 1, 2].map(() => c.nextPollTarget(['b', 'c']))).toEqual(['b', 'c', 'b'])
    expect(c.nextPollTarget([])).toBeUndefined()
  })
})
