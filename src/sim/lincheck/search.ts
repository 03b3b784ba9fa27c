import { assert } from '../../util/assert.ts'
import { EntryList, isCall, opIndexOf } from './entry-list.ts'
import { LinearizedSet } from './linearized-set.ts'
import { mix32 } from './hash.ts'
import type { Model } from './model.ts'
import type { SearchOp } from './search-op.ts'

/** Limits on one search. Both are optional; without them the search runs to a verdict. */
export interface SearchBudget {
  /** Loop iterations (linearization attempts plus backtracks). Deterministic, unlike time. */
  readonly maxSteps?: number
  /** Absolute deadline on the `now()` clock. */
  readonly deadlineMs?: number
  readonly now?: () => number
}

export type SearchResult =
  | { readonly outcome: 'linearizable', readonly steps: number }
  /** `blocked`: index of the operation that no explored order could linearize before its return, at the latest such return. */
  | { readonly outcome: 'violation', readonly blocked: number, readonly steps: number }
  | { readonly outcome: 'undecided', readonly reason: string, readonly steps: number }

interface CacheEntry<State> {
  readonly bits: Uint32Array
  readonly state: State
}

// Reading the clock on every step would dominate the register model's cost.
const clockEvery = 1024

/**
 * Wing & Gong's search with Lowe's memoisation (the approach of porcupine): walk the calls
 * that are minimal in real time, tentatively linearize one, and backtrack when a return is
 * reached before its call was linearized. A (set of linearized operations, model state) pair
 * that was already explored is never explored again: the rest of the search depends on nothing
 * else, so the second visit could only fail the same way.
 *
 * An operation with `returnAt = Infinity` is optional. Its return entry sorts after every
 * finite one, so meeting such an entry means every operation with a known outcome has been
 * linearized, and the history is linearizable whatever happens to the optional ones.
 */
export function linearize<State, Input> (model: Model<State, Input>, ops: readonly SearchOp<Input>[], budget: SearchBudget = {}): SearchResult {
  const list = new EntryList(ops)
  const linearized = new LinearizedSet(ops.length)
  const cache = new Map<number, Array<CacheEntry<State>>>()
  const stackCalls: number[] = []
  const stackStates: State[] = []
  const maxSteps = budget.maxSteps ?? Infinity
  const deadline = budget.deadlineMs ?? Infinity
  const now = budget.now ?? (() => performance.now())
  let state = model.init()
  let steps = 0
  let furthestAt = -1
  let blocked = -1

  // Inserts (linearized, state) unless it is already there; true when it was new.
  const remember = (candidate: State): boolean => {
    const key = ((linearized.hashLo ^ mix32(model.hash(candidate))) >>> 0) + (linearized.hashHi & 0x1fffff) * 0x100000000
    const bucket = cache.get(key)
    if (bucket !== undefined) {
      for (const seen of bucket) {
        if (linearized.sameBits(seen.bits) && model.equal(seen.state, candidate)) return false
      }
      bucket.push({ bits: linearized.words.slice(), state: candidate })
    } else {
      cache.set(key, [{ bits: linearized.words.slice(), state: candidate }])
    }
    return true
  }

  let entry = list.first()
  while (entry !== -1) {
    steps++
    if (steps > maxSteps) {
      return { outcome: 'undecided', reason: `search step budget of ${maxSteps} exhausted`, steps: steps - 1 }
    }
    if (steps % clockEvery === 0 && now() > deadline) {
      return { outcome: 'undecided', reason: 'time budget exhausted', steps }
    }
    const index = opIndexOf(entry)
    const op = ops[index]
    assert(op !== undefined, () => `entry ${entry} has no operation`)
    if (isCall(entry)) {
      const result = model.step(state, op.input)
      if (result.ok) {
        linearized.flip(index)
        if (remember(result.next)) {
          stackCalls.push(entry)
          stackStates.push(state)
          state = result.next
          list.lift(entry)
          entry = list.first()
          continue
        }
        linearized.flip(index)
      }
      entry = list.next[entry] ?? -1
      continue
    }
    if (op.returnAt === Infinity) return { outcome: 'linearizable', steps }
    if (op.returnAt > furthestAt) {
      furthestAt = op.returnAt
      blocked = index
    }
    const call = stackCalls.pop()
    if (call === undefined) return { outcome: 'violation', blocked, steps }
    state = stackStates.pop() as State
    linearized.flip(opIndexOf(call))
    list.unlift(call)
    entry = list.next[call] ?? -1
  }
  return { outcome: 'linearizable', steps }
}
