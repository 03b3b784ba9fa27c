import { describe, expect, it } from 'vitest'
import { Membership } from '../../../src/paxos/membership.js'
import { reconfigCommand } from '../../../src/paxos/reconfiguration.js'
import type { ConfigChange } from '../../../src/paxos/reconfiguration.js'
import type { Configuration, Value } from '../../../src/paxos/types.js'

// The Membership state object alone (membership.spec.ts drives reconfiguration through whole nodes).

const C0: Configuration = { epoch: 0, voters: ['a', 'b', 'c'], learners: [] }

function change (expectEpoch: number, c: ConfigChange, seq = 1): Value['commands'][number] {
  return reconfigCommand('op', seq, { expectEpoch, change: c })
}

function value (...commands: Array<Value['commands'][number]>): Value {
  return { id: 'v', commands }
}

describe('Membership', () => {
  it('a change chosen at slot s governs slots from s + α on, and not one slot earlier', () => {
    const m = new Membership([{ fromSlot: 1, configuration: C0 }], 0)
    const applied = m.commit(5, value(change(0, { kind: 'replaceVoter', remove: 'c', add: 'd' })), 4, undefined)
    expect(applied).toHaveLength(1)
    expect(applied[0]?.fromSlot).toBe(9)
    expect(m.at(8)).toEqual(C0)
    expect(m.at(9).voters).toEqual(['a', 'b', 'd'])
    expect(m.latestFromSlot()).toBe(9)
    expect(m.knownVoters().sort()).toEqual(['a', 'b', 'c', 'd'])
  })

  it('the reconfigureAtNextSlot and alphaOffByOne mutations move the boundary (what the scenarios catch)', () => {
    const next = new Membership([{ fromSlot: 1, configuration: C0 }], 0)
    next.commit(5, value(change(0, { kind: 'addLearner', node: 'l' })), 4, { reconfigureAtNextSlot: true })
    expect(next.latestFromSlot()).toBe(6)
    const offByOne = new Membership([{ fromSlot: 1, configuration: C0 }], 0)
    offByOne.commit(5, value(change(0, { kind: 'addLearner', node: 'l' })), 4, { alphaOffByOne: true })
    expect(offByOne.latestFromSlot()).toBe(8)
  })

  it('two changes in one slot apply in order; the second starts no earlier than the first', () => {
    const m = new Membership([{ fromSlot: 1, configuration: C0 }], 0)
    const applied = m.commit(3, value(
      change(0, { kind: 'addLearner', node: 'l' }, 1),
      change(1, { kind: 'promoteLearner', node: 'l' }, 2),
      change(0, { kind: 'addLearner', node: 'x' }, 3) // stale epoch: rejected
    ), 2, undefined)
    expect(applied.map(a => a.configuration.epoch)).toEqual([1, 2])
    expect(applied[1]?.previous.learners).toEqual(['l'])
    const outcomes = m.takeOutcomes(3)
    expect([...(outcomes?.keys() ?? [])]).toEqual([0, 1, 2])
    expect(outcomes?.get(2)?.ok).toBe(false)
    expect(m.takeOutcomes(3)).toBeUndefined()
    expect(m.entries.map(e => e.fromSlot)).toEqual([1, 5, 5])
    expect(m.at(5).voters).toEqual(['a', 'b', 'c', 'l'])
  })

  it('a change never takes effect before the newest known one (configurations stay ascending)', () => {
    // A snapshot brought a change that governs from slot 20; one chosen at 5 with α 4 would govern from 9.
    const m = new Membership([{ fromSlot: 1, configuration: C0 }, { fromSlot: 20, configuration: { ...C0, epoch: 1 } }], 0)
    const applied = m.commit(5, value(change(1, { kind: 'addLearner', node: 'l' })), 4, undefined)
    expect(applied[0]?.fromSlot).toBe(9)
    expect(m.entries.map(e => e.fromSlot)).toEqual([1, 20, 20])
    expect(m.at(19)).toEqual(C0)
    expect(m.at(20).learners).toEqual(['l'])
  })

  it('prunes a configuration once a later one governs every slot above the commit index', () => {
    const m = new Membership([{ fromSlot: 1, configuration: C0 }], 0)
    m.commit(1, value(change(0, { kind: 'removeVoter', node: 'c' })), 3, undefined)
    expect(m.entries).toHaveLength(2)
    m.prune(2)
    expect(m.entries).toHaveLength(2)
    expect(m.isKnownVoter('c')).toBe(true)
    m.prune(3)
    expect(m.entries).toHaveLength(1)
    expect(m.isKnownVoter('c')).toBe(false)
    expect(m.isKnownMember('c')).toBe(false)
  })

  it('quorumInAll needs a majority of every known configuration', () => {
    const m = new Membership([{ fromSlot: 1, configuration: C0 }, { fromSlot: 10, configuration: { epoch: 1, voters: ['c', 'd', 'e'], learners: ['l'] } }], 0)
    expect(m.quorumInAll(new Set(['a', 'b']))).toBe(false)
    expect(m.quorumInAll(new Set(['a', 'b', 'c', 'd']))).toBe(true)
    expect(m.quorumInAll(new Set(['a', 'c', 'd', 'l']))).toBe(true)
    expect(m.quorumInAll(new Set(['a', 'c', 'l']))).toBe(false)
    expect(m.knownMembers().sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'l'])
  })

  it('a snapshot below the commit index still gets the configurations that governed above it', () => {
    const m = new Membership([{ fromSlot: 1, configuration: C0 }], 0)
    m.commit(4, value(change(0, { kind: 'addLearner', node: 'l' })), 3, undefined) // governs ≥ 7
    m.prune(10)
    expect(m.entries).toHaveLength(1)
    expect(m.snapshotConfigs(3).map(e => e.configuration.epoch)).toEqual([0])
    expect(m.snapshotConfigs(4).map(e => e.fromSlot)).toEqual([1, 7])
    expect(m.snapshotConfigs(6).map(e => e.fromSlot)).toEqual([7])
    m.trimHistory(4)
    expect(m.snapshotConfigs(4).map(e => e.fromSlot)).toEqual([1, 7])
    m.trimHistory(6)
    expect(m.snapshotConfigs(6).map(e => e.fromSlot)).toEqual([7])
  })

  it('reset adopts a snapshot\'s configurations, pruned at its index', () => {
    const m = new Membership([{ fromSlot: 1, configuration: C0 }], 0)
    m.commit(1, value(change(0, { kind: 'addLearner', node: 'l' })), 2, undefined)
    m.reset([{ fromSlot: 1, configuration: C0 }, { fromSlot: 20, configuration: { ...C0, epoch: 5 } }], 30)
    expect(m.entries.map(e => e.configuration.epoch)).toEqual([5])
    m.dropOutcomesThrough(30)
    expect(m.takeOutcomes(1)).toBeUndefined()
  })
})
