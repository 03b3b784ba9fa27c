import { describe, it, expect } from 'vitest'
import { checkHistory, InvalidCheckOptionError } from '../../../src/sim/lincheck/index.js'
import type { LincheckResult } from '../../../src/sim/lincheck/index.js'
import { history } from './history-builder.js'
import type { HistoryBuilder } from './history-builder.js'

const outcome = (h: HistoryBuilder): LincheckResult['outcome'] => checkHistory(h.events).outcome

describe('checkHistory: tables of register histories', () => {
  const cases: Array<{ name: string, h: HistoryBuilder, expected: LincheckResult['outcome'] }> = [
    { name: 'empty history', h: history(), expected: 'linearizable' },
    { name: 'sequential writes and reads', h: history().write(1, 'x', 1).read(2, 'x', 1).write(1, 'x', 2).read(2, 'x', 2), expected: 'linearizable' },
    { name: 'read of a never-written key is null', h: history().read(1, 'x', null), expected: 'linearizable' },
    { name: 'read of null after a completed write', h: history().write(1, 'x', 1).read(2, 'x', null), expected: 'violation' },
    {
      name: 'concurrent writes, reads see 1 then 2',
      h: history().invoke(1, 'write', 'x', 1).invoke(2, 'write', 'x', 2).ok(1).ok(2).read(3, 'x', 1).read(3, 'x', 1),
      expected: 'linearizable'
    },
    {
      name: 'concurrent writes, reads see 2',
      h: history().invoke(1, 'write', 'x', 1).invoke(2, 'write', 'x', 2).ok(1).ok(2).read(3, 'x', 2),
      expected: 'linearizable'
    },
    {
      name: 'concurrent reads during concurrent writes may see either order',
      h: history().invoke(1, 'write', 'x', 1).invoke(2, 'write', 'x', 2).read(3, 'x', 2).read(3, 'x', 1).ok(1).ok(2),
      expected: 'linearizable'
    },
    {
      name: 'after both writes completed, the register cannot flip back',
      h: history().invoke(1, 'write', 'x', 1).invoke(2, 'write', 'x', 2).ok(1).ok(2).read(3, 'x', 2).read(3, 'x', 1),
      expected: 'violation'
    },
    { name: 'stale read after a completed write', h: history().write(1, 'x', 1).write(1, 'x', 2).read(2, 'x', 1), expected: 'violation' },
    { name: 'read concurrent with a write may see the old value', h: history().write(1, 'x', 1).invoke(1, 'write', 'x', 2).read(2, 'x', 1).ok(1), expected: 'linearizable' },
    {
      name: 'two sequential reads concurrent with a write cannot go new then old',
      h: history().write(1, 'x', 1).invoke(1, 'write', 'x', 2).read(2, 'x', 2).read(2, 'x', 1).ok(1),
      expected: 'violation'
    },
    { name: 'cas succeeds on the expected value', h: history().write(1, 'x', 1).cas(2, 'x', 1, 2).read(3, 'x', 2), expected: 'linearizable' },
    { name: 'cas on a never-written key expects null', h: history().cas(1, 'x', null, 5).read(2, 'x', 5), expected: 'linearizable' },
    { name: 'cas cannot succeed on another value', h: history().write(1, 'x', 1).cas(2, 'x', 3, 4), expected: 'violation' },
    { name: 'failed cas changes nothing', h: history().write(1, 'x', 1).cas(2, 'x', 3, 4, 'fail').read(3, 'x', 1), expected: 'linearizable' },
    { name: 'failed cas is not visible', h: history().write(1, 'x', 1).cas(2, 'x', 1, 4, 'fail').read(3, 'x', 4), expected: 'violation' },
    {
      name: 'lost update: two cas from the same value both succeed',
      h: history().write(1, 'x', 0).invoke(1, 'cas', 'x', [0, 1]).invoke(2, 'cas', 'x', [0, 2]).ok(1).ok(2),
      expected: 'violation'
    },
    { name: 'lost write: a completed write is never seen', h: history().write(1, 'x', 1).write(2, 'x', 2).read(3, 'x', 1).read(3, 'x', 1), expected: 'violation' },
    { name: 'failed write is removed', h: history().invoke(1, 'write', 'x', 5).fail(1).read(2, 'x', null), expected: 'linearizable' },
    { name: 'failed write is never seen', h: history().invoke(1, 'write', 'x', 5).fail(1).read(2, 'x', 5), expected: 'violation' },
    { name: 'info write seen later', h: history().invoke(1, 'write', 'x', 1).info(1).read(2, 'x', null).read(2, 'x', 1), expected: 'linearizable' },
    { name: 'info write never seen', h: history().invoke(1, 'write', 'x', 1).info(1).read(2, 'x', null).read(2, 'x', null), expected: 'linearizable' },
    { name: 'info write cannot be unseen', h: history().invoke(1, 'write', 'x', 1).info(1).read(2, 'x', 1).read(2, 'x', null), expected: 'violation' },
    { name: 'info write is not visible before its invoke', h: history().read(2, 'x', 1).invoke(1, 'write', 'x', 1).info(1), expected: 'violation' },
    { name: 'info write may take effect long after its info', h: history().invoke(1, 'write', 'x', 1).info(1).write(2, 'x', 2).read(3, 'x', 2).read(3, 'x', 1), expected: 'linearizable' },
    { name: 'invoke without completion counts as info', h: history().invoke(1, 'write', 'x', 1).read(2, 'x', 1), expected: 'linearizable' },
    { name: 'info cas may have succeeded', h: history().write(1, 'x', 1).invoke(2, 'cas', 'x', [1, 2]).info(2).read(3, 'x', 2), expected: 'linearizable' },
    { name: 'info cas may not have happened', h: history().write(1, 'x', 1).invoke(2, 'cas', 'x', [1, 2]).info(2).read(3, 'x', 1), expected: 'linearizable' },
    { name: 'info cas cannot succeed on another value', h: history().write(1, 'x', 1).invoke(2, 'cas', 'x', [3, 2]).info(2).read(3, 'x', 2), expected: 'violation' },
    { name: 'info read constrains nothing', h: history().write(1, 'x', 1).invoke(2, 'read', 'x').info(2), expected: 'linearizable' },
    { name: 'failed read constrains nothing', h: history().write(1, 'x', 1).invoke(2, 'read', 'x').fail(2), expected: 'linearizable' },
    { name: 'a process continues after an info op', h: history().invoke(1, 'write', 'x', 1).info(1).read(1, 'x', null).read(1, 'x', 1), expected: 'linearizable' },
    { name: 'one info write cannot explain two flips', h: history().invoke(1, 'write', 'x', 1).info(1).read(2, 'x', 1).write(2, 'x', 2).read(2, 'x', 1), expected: 'violation' },
    { name: 'two info writes of the same value can explain two flips', h: history().invoke(1, 'write', 'x', 1).info(1).invoke(3, 'write', 'x', 1).info(3).read(2, 'x', 1).write(2, 'x', 2).read(2, 'x', 1), expected: 'linearizable' },
    { name: 'values compare strictly: 1 is not "1"', h: history().write(1, 'x', 1).read(2, 'x', '1'), expected: 'violation' },
    { name: 'keys compare strictly: 1 is not "1"', h: history().write(1, 1, 'a').read(2, '1', null), expected: 'linearizable' },
    { name: 'string process names', h: history().write('alice', 'x', 1).read('bob', 'x', 1), expected: 'linearizable' }
  ]
  for (const { name, h, expected } of cases) {
    it(`${name}: ${expected}`, () => {
      expect(outcome(h)).toBe(expected)
    })
  }
})

describe('checkHistory: reporting', () => {
  it('checks keys independently and reports the bad one', () => {
    const h = history()
      .write(1, 'a', 1).write(2, 'b', 1).write(3, 'c', 1)
      .read(1, 'a', 1).read(2, 'b', 7).read(3, 'c', 1)
    const result = checkHistory(h.events)
    expect(result.outcome).toBe('violation')
    if (result.outcome !== 'violation') return
    expect(result.key).toBe('b')
    expect(result.op.f).toBe('read')
    expect(result.op.value).toBe(7)
    expect(result.op.invokeLine).toBe(9)
    expect(result.op.returnLine).toBe(10)
    expect(result.ops.every((op) => op.key === 'b')).toBe(true)
    expect(result.message).toContain('"b"')
  })

  it('reports the first failing key in order of first invocation', () => {
    const h = history().write(1, 'late', 1).write(1, 'early', 1).read(2, 'early', 2).read(2, 'late', 2)
    const result = checkHistory(h.events)
    expect(result.outcome === 'violation' && result.key).toBe('late')
  })

  it('names the operation at the furthest point the search reached, and stops the prefix at its return', () => {
    const h = history()
      .write(1, 'x', 1)
      .invoke(1, 'write', 'x', 2).read(2, 'x', 2).ok(1)
      .read(2, 'x', 1)
      .write(3, 'x', 3).read(3, 'x', 3)
    const result = checkHistory(h.events)
    expect(result.outcome).toBe('violation')
    if (result.outcome !== 'violation') return
    expect(result.op).toMatchObject({ process: 2, f: 'read', value: 1, invokeLine: 7, returnLine: 8 })
    expect(result.ops.map((op) => op.invokeLine)).toEqual([1, 3, 4, 7])
  })

  it('leaves failed operations and info reads out of the reported ops', () => {
    const h = history().invoke(1, 'write', 'x', 9).fail(1).invoke(2, 'read', 'x').info(2).write(3, 'x', 1).read(3, 'x', 2)
    const result = checkHistory(h.events)
    expect(result.outcome === 'violation' && result.ops.map((op) => op.f)).toEqual(['write', 'read'])
  })

  it('accepts events built in code without line numbers and reports array positions', () => {
    const result = checkHistory([
      { process: 1, type: 'invoke', f: 'write', key: 'k', value: 1, time: 0 },
      { process: 1, type: 'ok', f: 'write', key: 'k', value: 1, time: 0 },
      { process: 2, type: 'invoke', f: 'read', key: 'k', value: null, time: 0 },
      { process: 2, type: 'ok', f: 'read', key: 'k', value: null, time: 0 }
    ])
    expect(result.outcome === 'violation' && [result.op.invokeLine, result.op.returnLine]).toEqual([3, 4])
  })
})

describe('checkHistory: budget', () => {
  // Many writers of distinct values all overlapping, then a read of a value nobody wrote: the
  // search must try every order of the writers before giving up.
  const pathological = (): HistoryBuilder => {
    const h = history()
    for (let p = 0; p < 8; p++) h.invoke(p, 'write', 'x', p)
    h.read(99, 'x', 'nobody')
    for (let p = 0; p < 8; p++) h.ok(p)
    return h
  }

  it('is undecided when maxSteps runs out', () => {
    const result = checkHistory(pathological().events, { maxSteps: 10 })
    expect(result).toEqual({ outcome: 'undecided', key: 'x', reason: 'search step budget of 10 exhausted' })
  })

  it('is undecided when the time budget runs out', () => {
    expect(checkHistory(pathological().events, { timeBudgetMs: 0 }).outcome).toBe('undecided')
  })

  it('decides the same history without a budget', () => {
    expect(checkHistory(pathological().events).outcome).toBe('violation')
  })

  it('prefers a violation on a later key over an undecided earlier key', () => {
    const h = pathological().write(1, 'y', 1).read(1, 'y', 2)
    const result = checkHistory(h.events, { maxSteps: 10 })
    expect(result.outcome === 'violation' && result.key).toBe('y')
  })

  it('rejects unusable options', () => {
    expect(() => checkHistory([], { maxSteps: -1 })).toThrow(InvalidCheckOptionError)
    expect(() => checkHistory([], { maxSteps: 1.5 })).toThrow(InvalidCheckOptionError)
    expect(() => checkHistory([], { timeBudgetMs: Number.NaN })).toThrow(InvalidCheckOptionError)
  })
})
