import { describe, expect, it } from 'vitest'
import { Pipeline, inAlphaWindow } from '../../../src/paxos/pipeline.js'
import { Timeout } from '../../../src/paxos/timeout.js'
import type { Command, Configuration, Value } from '../../../src/paxos/types.js'
import { AssertionError } from '../../../src/util/assert.js'

const three: Configuration = { epoch: 0, voters: ['a', 'b', 'c'], learners: ['l'] }
const cmd = (seq: number, bytes: number): Command => ({ client: 'c', seq, data: new Uint8Array(bytes) })
const val = (id: string): Value => ({ id, commands: [] })

describe('inAlphaWindow (the α rule)', () => {
  it('admits exactly the α slots above the commit index', () => {
    expect(inAlphaWindow(10, 10, 4)).toBe(false)
    expect(inAlphaWindow(11, 10, 4)).toBe(true)
    expect(inAlphaWindow(14, 10, 4)).toBe(true)
    expect(inAlphaWindow(15, 10, 4)).toBe(false)
    expect(inAlphaWindow(11, 10, 1)).toBe(true)
    expect(inAlphaWindow(12, 10, 1)).toBe(false)
  })
})

describe('Pipeline (Phase 2)', () => {
  it('cuts batches by command count and bytes, but always takes at least one command', () => {
    const p = new Pipeline(1)
    for (const [i, bytes] of [100, 100, 100, 500, 10].entries()) p.enqueue(cmd(i, bytes))
    expect(p.cutBatch(2, 1000).map(c => c.seq)).toEqual([0, 1])
    expect(p.cutBatch(10, 300).map(c => c.seq)).toEqual([2]) // 100 + 500 > 300
    expect(p.cutBatch(10, 300).map(c => c.seq)).toEqual([3]) // 500 alone exceeds the bytes: still taken
    expect(p.queued).toBe(1)
    expect(p.cutBatch(10, 300).map(c => c.seq)).toEqual([4])
    expect(p.cutBatch(10, 300)).toEqual([])
    p.compactQueue()
    expect(p.queued).toBe(0)
  })

  it('a slot is chosen when a majority of its own configuration voted; learners and strangers never count', () => {
    const clock = { now: 0 }
    const p = new Pipeline(1)
    p.open(1, val('v1'), three, new Timeout(clock, 6).start())
    expect(p.vote(1, 'l')).toBe(false)
    expect(p.vote(1, 'x')).toBe(false)
    expect(p.vote(1, 'a')).toBe(false)
    expect(p.vote(1, 'a')).toBe(false) // a duplicate vote counts once
    expect(p.vote(1, 'b')).toBe(true)
    expect(p.vote(1, 'c')).toBe(false) // already chosen
    expect(p.inflightCount).toBe(0)
    expect(p.proposalAt(1)?.id).toBe('v1')
    expect(p.takeChosen(1)?.id).toBe('v1')
    expect(p.takeChosen(1)).toBeUndefined()
  })

  it('refuses to propose a slot twice in one ballot', () => {
    const clock = { now: 0 }
    const p = new Pipeline(1)
    p.open(1, val('v1'), three, new Timeout(clock, 6))
    expect(() => { p.open(1, val('v2'), three, new Timeout(clock, 6)) }).toThrow(AssertionError)
  })

  it('retransmits a slot each time its retry expires, and no sooner', () => {
    const clock = { now: 0 }
    const p = new Pipeline(1)
    p.open(1, val('v1'), three, new Timeout(clock, 3).start())
    clock.now = 1
    p.open(2, val('v2'), three, new Timeout(clock, 3).start())
    clock.now = 2
    expect(p.dueForRetransmit()).toEqual([])
    clock.now = 3
    expect(p.dueForRetransmit().map(([s]) => s)).toEqual([1])
    clock.now = 4
    expect(p.dueForRetransmit().map(([s]) => s)).toEqual([2])
    clock.now = 5
    expect(p.dueForRetransmit()).toEqual([])
    clock.now = 6
    expect(p.dueForRetransmit().map(([s]) => s)).toEqual([1])
  })

  it('dropping through a commit index learned by catch-up checks every in-flight value against it', () => {
    const clock = { now: 0 }
    const p = new Pipeline(1)
    p.open(1, val('v1'), three, new Timeout(clock, 6))
    p.open(2, val('v2'), three, new Timeout(clock, 6))
    p.open(3, val('v3'), three, new Timeout(clock, 6))
    p.nextSlot = 4
    p.dropThrough(2, slot => `v${slot}`)
    expect([...p.inflightSlots()]).toEqual([3])
    expect(p.nextSlot).toBe(4)
    p.dropThrough(5, () => 'v3')
    expect(p.nextSlot).toBe(6)
    expect(p.inflightCount).toBe(0)
  })

  it('a catch-up value contradicting an in-flight proposal is an assertion', () => {
    const p = new Pipeline(1)
    p.open(1, val('v1'), three, new Timeout({ now: 0 }, 6))
    expect(() => { p.dropThrough(1, () => 'other') }).toThrow(/contradicts this leader's proposal/)
  })
})
