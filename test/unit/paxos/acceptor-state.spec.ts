import { describe, expect, it } from 'vitest'
import { Acceptor } from '../../../src/paxos/acceptor.js'
import { PaxosLog } from '../../../src/paxos/log.js'
import type { Ballot, LogEntry } from '../../../src/paxos/types.js'
import { BOTTOM_BALLOT } from '../../../src/paxos/types.js'
import { AssertionError } from '../../../src/util/assert.js'

// The Acceptor state object alone (acceptor.spec.ts drives the same rules through a whole node).

const b = (round: number, node = 'a'): Ballot => ({ round, node })
const e = (round: number, id: string): LogEntry => ({ ballot: b(round), value: { id, commands: [] } })

describe('Acceptor', () => {
  it('the promise never decreases, and every promise is persisted', () => {
    const a = new Acceptor(BOTTOM_BALLOT, new PaxosLog(new Map()), undefined)
    expect(a.dirty).toBe(false)
    a.promise(b(2))
    expect(a.dirty).toBe(true)
    expect(a.takePersist()).toEqual({ entries: [], promised: b(2) })
    expect(a.dirty).toBe(false)
    expect(() => { a.promise(b(1)) }).toThrow(AssertionError)
    a.promise(b(2, 'b')) // same round, higher node: higher
    expect(a.promised).toEqual(b(2, 'b'))
  })

  it('votes only at or above the promise, and persists each vote', () => {
    const log = new PaxosLog(new Map())
    const a = new Acceptor(b(3), log, undefined)
    expect(() => a.accept(1, b(2), e(2, 'x').value, 0)).toThrow(AssertionError)
    expect(a.accept(1, b(3), e(3, 'x').value, 0)).toBe(true)
    expect(log.get(1)?.ballot).toEqual(b(3))
    expect(a.takePersist().entries).toEqual([[1, e(3, 'x')]])
    expect(log.lastSlot).toBe(1)
  })

  it('never overwrites a chosen slot with another value (unless overwriteChosenSlot is planted)', () => {
    const log = new PaxosLog(new Map([[1, e(1, 'chosen')]]))
    const a = new Acceptor(b(5), log, undefined)
    expect(a.accept(1, b(5), { id: 'late', commands: [] }, 1)).toBe(false)
    expect(a.accept(1, b(5), { id: 'chosen', commands: [] }, 1)).toBe(true)
    expect(log.get(1)?.value.id).toBe('chosen')
    expect(a.dirty).toBe(false)
    const broken = new Acceptor(b(5), log, { overwriteChosenSlot: true })
    expect(broken.accept(1, b(5), { id: 'late', commands: [] }, 1)).toBe(true)
    expect(log.get(1)?.value.id).toBe('late')
  })

  it('a chosen value learned by catch-up keeps the higher ballot (unless catchupLowersBallot is planted)', () => {
    const log = new PaxosLog(new Map([[1, e(7, 'stale')], [2, e(1, 'old')]]))
    const a = new Acceptor(b(7), log, undefined)
    a.learnChosen(1, e(4, 'chosen'))
    expect(log.get(1)).toEqual({ ballot: b(7), value: { id: 'chosen', commands: [] } })
    a.learnChosen(2, e(4, 'chosen2'))
    expect(log.get(2)?.ballot).toEqual(b(4))
    a.learnChosen(3, e(2, 'new'))
    expect(log.get(3)?.ballot).toEqual(b(2))
    expect(a.takePersist().entries.map(([s]) => s)).toEqual([1, 2, 3])
    // The same value already there: nothing to write.
    a.learnChosen(3, e(9, 'new'))
    expect(a.dirty).toBe(false)
    const broken = new Acceptor(b(7), new PaxosLog(new Map([[1, e(7, 'stale')]])), { catchupLowersBallot: true })
    broken.learnChosen(1, e(4, 'chosen'))
    expect(broken.takePersist().entries[0]?.[1].ballot).toEqual(b(4))
  })

  it('a promise reply carries the votes above the commit index from the asked slot on', () => {
    const log = new PaxosLog(new Map([[1, e(1, 'a')], [2, e(1, 'b')], [3, e(2, 'c')], [5, e(2, 'd')]]))
    const a = new Acceptor(b(2), log, undefined)
    const reply = a.promiseReply(b(3), 1, 2)
    expect(reply.commitIndex).toBe(2)
    expect(reply.entries.map(([s]) => s)).toEqual([3, 5])
    expect(a.promiseReply(b(3), 4, 2).entries.map(([s]) => s)).toEqual([5])
  })
})
