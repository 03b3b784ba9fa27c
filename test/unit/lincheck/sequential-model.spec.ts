import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import {
  canonical, checkHistory, checkModelHistory, formatModelViolation, InvalidModelError, MalformedHistoryError
} from '../../../src/sim/lincheck/index.js'
import type { HistoryEvent, ModelHistoryEvent, Scalar, SequentialModel } from '../../../src/sim/lincheck/index.js'
import { registerExecution } from './register-execution.js'

type CounterInput = { readonly add: number } | { readonly get: true }
const counter: SequentialModel<number, CounterInput, number> = {
  name: 'counter',
  init: () => 0,
  step: (s, input) => ('add' in input ? [s + input.add, s + input.add] : [s, s])
}

/** Builds a model history one event at a time, in real-time order. */
class Events<I, O> {
  readonly list: Array<ModelHistoryEvent<I, O>> = []
  invoke (process: number, input: I): this { this.list.push({ process, type: 'invoke', input, time: this.list.length * 10 }); return this }
  ok (process: number, output: O): this { this.list.push({ process, type: 'ok', output, time: this.list.length * 10 }); return this }
  info (process: number): this { this.list.push({ process, type: 'info', time: this.list.length * 10 }); return this }
  fail (process: number): this { this.list.push({ process, type: 'fail', time: this.list.length * 10 }); return this }
  op (process: number, input: I, output: O): this { return this.invoke(process, input).ok(process, output) }
}

const events = (): Events<CounterInput, number> => new Events()

describe('checkModelHistory: a counter', () => {
  it('accepts sequential and concurrent histories some order explains', () => {
    expect(checkModelHistory(counter, events().op(1, { add: 2 }, 2).op(2, { get: true }, 2).list).outcome).toBe('linearizable')
    // Two concurrent adds: either may go first, so 3 then 5 and 5 then 3 both work.
    const h = events().invoke(1, { add: 3 }).invoke(2, { add: 2 }).ok(2, 2).ok(1, 5).op(3, { get: true }, 5)
    expect(checkModelHistory(counter, h.list).outcome).toBe('linearizable')
  })

  it('rejects a stale read and names the operation in a readable message', () => {
    const h = events().op(1, { add: 2 }, 2).op(1, { add: 3 }, 5).op(2, { get: true }, 2)
    const result = checkModelHistory(counter, h.list)
    expect(result.outcome).toBe('violation')
    if (result.outcome !== 'violation') return
    expect(result.op.input).toEqual({ get: true })
    expect(result.message).toBe('model "counter": process 2 {"get":true} → 2 [T=0.040 → T=0.050] is not possible in any order of the 3 operations invoked before it returned')
    expect(formatModelViolation(counter, result)).toBe([
      'not linearizable:',
      `  ${result.message}`,
      '  last 2 completed before it was invoked:',
      '    process 1 {"add":2} → 2 [T=0.000 → T=0.010]',
      '    process 1 {"add":3} → 5 [T=0.020 → T=0.030]'
    ].join('\n'))
  })

  it('lets an unknown (info) operation take effect late, or never, and drops failed ones', () => {
    // The add of process 1 timed out; the read after it may see it…
    expect(checkModelHistory(counter, events().invoke(1, { add: 4 }).info(1).op(2, { get: true }, 4).list).outcome).toBe('linearizable')
    // …or not, and even a later read may still see it land.
    expect(checkModelHistory(counter, events().invoke(1, { add: 4 }).info(1).op(2, { get: true }, 0).op(2, { get: true }, 4).list).outcome).toBe('linearizable')
    // But once seen it cannot be unseen.
    expect(checkModelHistory(counter, events().invoke(1, { add: 4 }).info(1).op(2, { get: true }, 4).op(2, { get: true }, 0).list).outcome).toBe('violation')
    // A failed add never happened.
    expect(checkModelHistory(counter, events().invoke(1, { add: 4 }).fail(1).op(2, { get: true }, 4).list).outcome).toBe('violation')
    // An invoke never completed counts as info.
    expect(checkModelHistory(counter, events().invoke(1, { add: 4 }).op(2, { get: true }, 4).list).outcome).toBe('linearizable')
  })

  it('checks partitions independently, each from init()', () => {
    type In = { readonly key: string, readonly add: number }
    const perKey: SequentialModel<number, In, number> = { name: 'per-key', init: () => 0, step: (s, i) => [s + i.add, s + i.add], partition: i => i.key }
    const ok = new Events<In, number>().op(1, { key: 'a', add: 1 }, 1).op(2, { key: 'b', add: 5 }, 5).op(1, { key: 'a', add: 1 }, 2)
    expect(checkModelHistory(perKey, ok.list).outcome).toBe('linearizable')
    // Without partitioning the same history is a single counter, and wrong.
    const { partition: _, ...whole } = perKey
    expect(checkModelHistory(whole, ok.list).outcome).toBe('violation')
    const bad = new Events<In, number>().op(1, { key: 'a', add: 1 }, 1).op(2, { key: 'b', add: 5 }, 6)
    const result = checkModelHistory(perKey, bad.list)
    expect(result.outcome === 'violation' && result.partition).toBe('b')
  })

  it('uses the model\'s output equality', () => {
    type Out = { readonly total: number, readonly at: number }
    const stamped: SequentialModel<number, number, Out> = { init: () => 0, step: (s, n) => [s + n, { total: s + n, at: 0 }], equal: (a, b) => a.total === b.total }
    expect(checkModelHistory(stamped, new Events<number, Out>().op(1, 2, { total: 2, at: 1234 }).list).outcome).toBe('linearizable')
    const { equal: _, ...strict } = stamped
    expect(checkModelHistory(strict, new Events<number, Out>().op(1, 2, { total: 2, at: 1234 }).list).outcome).toBe('violation')
  })

  it('reports budgets as undecided, deterministically', () => {
    // Ten concurrent adds whose outputs fit only the reverse of the order they were called in.
    const h = events()
    for (let p = 1; p <= 10; p++) h.invoke(p, { add: p })
    let total = 0
    for (let p = 10; p >= 1; p--) h.ok(p, (total += p))
    const a = checkModelHistory(counter, h.list, { maxSteps: 20 })
    expect(a).toEqual({ outcome: 'undecided', partition: undefined, reason: 'search step budget of 20 exhausted' })
    expect(checkModelHistory(counter, h.list, { maxSteps: 20 })).toEqual(a)
    expect(checkModelHistory(counter, h.list).outcome).toBe('linearizable')
  })
})

describe('checkModelHistory: states that are not plain JSON', () => {
  // A list kept as a Map from position to item: JSON.stringify prints every such state as {}.
  type Op = { readonly push: string } | { readonly list: true }
  const list: SequentialModel<Map<number, string>, Op, string[]> = {
    name: 'list',
    init: () => new Map(),
    step: (s, op) => {
      if ('list' in op) return [s, [...s.values()]]
      const next = new Map(s)
      next.set(s.size, op.push)
      return [next, [...next.values()]]
    }
  }
  // Two pushes with unknown outcomes, then a read that needs the second order the search tries:
  // x-then-y and y-then-x reach the same set of operations in different states.
  const h = new Events<Op, string[]>().invoke(1, { push: 'x' }).invoke(2, { push: 'y' }).info(1).info(2).op(3, { list: true }, ['y', 'x'])

  it('tells Map states apart by default (canonical form)', () => {
    expect(checkModelHistory(list, h.list).outcome).toBe('linearizable')
  })

  it('would give a false violation if distinct states shared a key (why the default is not JSON)', () => {
    expect(checkModelHistory({ ...list, stateKey: s => JSON.stringify(s) }, h.list).outcome).toBe('violation')
  })

  it('canonical: sorted keys, Map and Set contents, and look-alikes kept apart', () => {
    expect(canonical({ b: 1, a: [1, 'x'] })).toBe(canonical({ a: [1, 'x'], b: 1 }))
    expect(canonical(new Map([[1, 'a'], [2, 'b']]))).toBe(canonical(new Map([[2, 'b'], [1, 'a']])))
    expect(canonical(new Map([[1, 'a']]))).not.toBe(canonical(new Map([[1, 'b']])))
    expect(canonical(new Set([1, 2]))).not.toBe(canonical(new Set([1])))
    expect(canonical(1)).not.toBe(canonical('1'))
    expect(canonical(0)).not.toBe(canonical(-0))
    expect(canonical(undefined)).not.toBe(canonical(null))
    const cyclic: { self?: unknown } = {}
    cyclic.self = cyclic
    expect(() => canonical(cyclic)).toThrow(TypeError)
  })
})

describe('checkModelHistory: misuse is reported, not silently wrong', () => {
  it('a step that mutates its state argument is an InvalidModelError', () => {
    const mutating: SequentialModel<{ n: number }, number, number> = {
      name: 'mutating',
      init: () => ({ n: 0 }),
      step: (s, add) => { s.n += add; return [s, s.n] }
    }
    const h = new Events<number, number>().op(1, 1, 1).op(1, 1, 2)
    expect(() => checkModelHistory(mutating, h.list)).toThrow(InvalidModelError)
    expect(() => checkModelHistory(mutating, h.list)).toThrow(/model "mutating": step changed the state it was given/)
  })

  it('a step that throws is an InvalidModelError naming the input', () => {
    const throwing: SequentialModel<number, number, number> = { init: () => 0, step: () => { throw new Error('boom') } }
    let error: unknown
    try { checkModelHistory(throwing, new Events<number, number>().op(1, 7, 7).list) } catch (e) { error = e }
    expect(error).toBeInstanceOf(InvalidModelError)
    expect((error as InvalidModelError).code).toBe('ERR_LINCHECK_INVALID_MODEL')
    expect((error as Error).message).toBe('model "model": step threw on 7: boom')
  })

  it('events that do not pair up are a MalformedHistoryError with the position', () => {
    expect(() => checkModelHistory(counter, events().ok(1, 0).list)).toThrow(MalformedHistoryError)
    expect(() => checkModelHistory(counter, events().invoke(1, { add: 1 }).invoke(1, { add: 1 }).list)).toThrow(/^line 2: process 1 invokes again/)
  })
})

/** The register of `checkHistory`, as a sequential model: the two checkers must agree. */
type RegisterOp = { readonly f: 'read' | 'write' | 'cas', readonly key: Scalar, readonly value: unknown }
const register: SequentialModel<Scalar | null, RegisterOp, unknown> = {
  name: 'register',
  init: () => null,
  step: (s, op) => {
    if (op.f === 'read') return [s, s]
    if (op.f === 'write') return [op.value as Scalar, 'ok']
    const [expected, next] = op.value as [Scalar | null, Scalar]
    return expected === s ? [next, 'ok'] : [s, 'mismatch']
  },
  partition: op => op.key
}

/** A register history in model form: a failed cas (a mismatch) is a fail, as in checkHistory. */
function asModelHistory (history: readonly HistoryEvent[]): Array<ModelHistoryEvent<RegisterOp, unknown>> {
  return history.map(e => {
    if (e.type === 'invoke') return { process: e.process, type: 'invoke', input: { f: e.f, key: e.key, value: e.value }, time: e.time }
    if (e.type === 'ok') return { process: e.process, type: 'ok', output: e.f === 'read' ? e.value : 'ok', time: e.time }
    return { process: e.process, type: e.type, time: e.time }
  })
}

describe('checkModelHistory agrees with checkHistory on register histories', () => {
  const executions = fc.record({
    seed: fc.integer(),
    processes: fc.integer({ min: 1, max: 6 }),
    keys: fc.integer({ min: 1, max: 3 }),
    steps: fc.integer({ min: 0, max: 150 }),
    infoPercent: fc.integer({ min: 0, max: 15 }),
    failPercent: fc.integer({ min: 0, max: 15 }),
    valueSpace: fc.constantFrom(0, 2, 3)
  })

  it('on executions of a real store, and on the same histories with one read corrupted', () => {
    fc.assert(fc.property(executions, fc.nat(), (options, pick) => {
      const history = registerExecution(options)
      expect(checkModelHistory(register, asModelHistory(history), { maxSteps: 1_000_000 }).outcome).toBe('linearizable')
      const reads = history.flatMap((e, i) => (e.type === 'ok' && e.f === 'read' ? [i] : []))
      fc.pre(reads.length > 0)
      const target = reads[pick % reads.length] ?? 0
      const corrupted = history.map((e, i) => (i === target ? { ...e, value: 'never-written' } : e))
      const expected = checkHistory(corrupted, { maxSteps: 1_000_000 }).outcome
      expect(expected).toBe('violation')
      expect(checkModelHistory(register, asModelHistory(corrupted), { maxSteps: 5_000_000 }).outcome).toBe(expected)
    }), { numRuns: 100, seed: 20261130 })
  })
})
