import { describe, expect, it } from 'vitest'
import { PaxosLog } from '../../../src/paxos/log.js'
import type { LogEntry, Slot } from '../../../src/paxos/types.js'
import { AssertionError } from '../../../src/util/assert.js'

const entry = (round: number, id: string): LogEntry => ({ ballot: { round, node: 'a' }, value: { id, commands: [] } })

function logOf (slots: Slot[], snapshotIndex = 0): PaxosLog {
  return new PaxosLog(new Map(slots.map(s => [s, entry(1, `v${s}`)])), snapshotIndex)
}

describe('PaxosLog', () => {
  it('starting from a snapshot drops leftovers at or below it and ends no lower than it', () => {
    const log = logOf([3, 5, 6], 5)
    expect(log.has(3)).toBe(false)
    expect(log.has(5)).toBe(false)
    expect(log.has(6)).toBe(true)
    expect(log.lastSlot).toBe(6)
    expect(log.compactedThrough).toBe(5)
    expect(logOf([], 9).lastSlot).toBe(9)
  })

  it('entriesFrom lists the votes at or above a slot in order, dense or sparse', () => {
    const dense = logOf([1, 2, 3, 5])
    expect(dense.entriesFrom(2).map(([s]) => s)).toEqual([2, 3, 5])
    // A vote far above the rest: walking the range would take a million steps.
    const sparse = new PaxosLog(new Map([[1_000_000, entry(1, 'far')], [4, entry(1, 'v4')], [2, entry(1, 'v2')]]))
    expect(sparse.entriesFrom(3).map(([s]) => s)).toEqual([4, 1_000_000])
    expect(sparse.entriesFrom(1_000_001)).toEqual([])
  })

  it('compacts only up to the snapshot index and the applied index', () => {
    const log = logOf([1, 2, 3, 4, 5, 6])
    expect(log.compact(6, 6)).toBe(0) // no snapshot yet
    log.snapshotTaken(4)
    expect(log.compact(6, 3)).toBe(3)
    expect(log.has(3)).toBe(false)
    expect(log.has(4)).toBe(true)
    expect(log.compact(6, 6)).toBe(4)
    expect(log.compact(2, 6)).toBe(4) // never moves back
    log.snapshotTaken(2) // never lowers the snapshot index
    expect(log.snapshotIndex).toBe(4)
    expect(() => log.entryAt(4)).toThrow(AssertionError)
    expect(log.entryAt(5).value.id).toBe('v5')
  })

  it('an installed snapshot ahead of the log raises the last slot and drops everything below', () => {
    const log = logOf([1, 2, 3])
    log.snapshotInstalled(10)
    expect(log.size).toBe(0)
    expect(log.lastSlot).toBe(10)
    expect(log.snapshotIndex).toBe(10)
    expect(log.compactedThrough).toBe(10)
    log.set(12, entry(2, 'v12'))
    expect(log.lastSlot).toBe(12)
  })

  it('entryAt asserts on a missing committed slot', () => {
    expect(() => logOf([1, 3]).entryAt(2)).toThrow(/no log entry at committed slot 2/)
  })
})
